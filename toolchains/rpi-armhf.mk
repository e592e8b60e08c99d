# make TARGET=rpi-armhf: 32-bit Raspberry Pi OS (armhf) on a Pi 2 v1.1 / 3 / 4 / 5 / Zero 2 W.
# ARMv7-A with NEON and VFPv4, hard float (Debian's arm-linux-gnueabihf-gcc defaults to ARMv7 +
# Thumb-2; these flags make the NEON unit explicit).  Not for the Pi 1 / Zero / Zero W (ARMv6, no
# NEON).  The tests run on qemu's cortex-a7: ARMv7-A + NEON-VFPv4, exactly the baseline promised.
# Outputs in build/rpi-armhf/.  See toolchains/cross.mk and toolchains/BOARDS.md.
BOARD_NAME := Raspberry Pi 2 v1.1 / 3 / 4 / 5, 32-bit OS (ARMv7-A NEON-VFPv4)
CROSS_ARCH := armhf
TUNE_CFLAGS := -march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard
QEMU_CPU := cortex-a7
include toolchains/cross.mk
