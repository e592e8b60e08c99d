# make TARGET=rpi4: Raspberry Pi 4 / 400 / CM4 with a 64-bit OS (Raspberry Pi OS arm64).
# 4x Cortex-A72: ARMv8.0-A, NEON, no FP16 arithmetic.  Outputs in build/rpi4/.
# See toolchains/cross.mk and toolchains/BOARDS.md.
BOARD_NAME := Raspberry Pi 4 / 400 / CM4, 64-bit OS (Cortex-A72)
CROSS_ARCH := arm64
TUNE_CFLAGS := -mcpu=cortex-a72
QEMU_CPU := cortex-a72
include toolchains/cross.mk
