# make TARGET=jetson-orin: NVIDIA Jetson Orin (AGX / NX / Nano): Cortex-A78AE, ARMv8.2-A with FP16
# arithmetic and dotprod.  The GPU is not used.  qemu 7.2 has no Cortex-A78AE model: the tests
# run on cortex-a76, the closest one it has (ARMv8.2-A with the same FP16 and dotprod
# extensions, no SVE -- what the code generated for -mcpu=cortex-a78ae uses).
# Outputs in build/jetson-orin/.  See toolchains/cross.mk and toolchains/BOARDS.md.
BOARD_NAME := NVIDIA Jetson Orin (Cortex-A78AE)
CROSS_ARCH := arm64
TUNE_CFLAGS := -mcpu=cortex-a78ae
QEMU_CPU := cortex-a76
include toolchains/cross.mk
