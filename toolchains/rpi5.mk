# make TARGET=rpi5: Raspberry Pi 5 / CM5 with a 64-bit OS (Raspberry Pi OS arm64).
# 4x Cortex-A76: ARMv8.2-A.  -mcpu=cortex-a76 implies +fp16 and +dotprod (the compiler defines
# __ARM_FEATURE_FP16_VECTOR_ARITHMETIC), so the FP16 arithmetic kernels are compiled in; qemu's
# cortex-a76 model runs them (cortex-a72/a53 stop them with SIGILL).  Outputs in build/rpi5/.
# See toolchains/cross.mk and toolchains/BOARDS.md.
BOARD_NAME := Raspberry Pi 5 / CM5, 64-bit OS (Cortex-A76)
CROSS_ARCH := arm64
TUNE_CFLAGS := -mcpu=cortex-a76
QEMU_CPU := cortex-a76
include toolchains/cross.mk
