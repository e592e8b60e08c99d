# make TARGET=jetson-nano: NVIDIA Jetson Nano (and TX1): 4x Cortex-A57, ARMv8.0-A, NEON, no FP16
# arithmetic.  The GPU is not used.  The binary needs glibc >= 2.34: JetPack 4 (Ubuntu 18.04,
# glibc 2.27) cannot run it -- build natively there (toolchains/BOARDS.md).
# Outputs in build/jetson-nano/.  See toolchains/cross.mk.
BOARD_NAME := NVIDIA Jetson Nano (Cortex-A57)
CROSS_ARCH := arm64
TUNE_CFLAGS := -mcpu=cortex-a57
QEMU_CPU := cortex-a57
include toolchains/cross.mk
