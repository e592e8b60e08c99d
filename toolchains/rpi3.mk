# make TARGET=rpi3: Raspberry Pi 3 / Zero 2 W with a 64-bit OS (Raspberry Pi OS arm64).
# 4x Cortex-A53: ARMv8.0-A, NEON, no FP16 arithmetic.  Outputs in build/rpi3/.
# See toolchains/cross.mk and toolchains/BOARDS.md.
BOARD_NAME := Raspberry Pi 3 / Zero 2 W, 64-bit OS (Cortex-A53)
CROSS_ARCH := arm64
TUNE_CFLAGS := -mcpu=cortex-a53
QEMU_CPU := cortex-a53
include toolchains/cross.mk
