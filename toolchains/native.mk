# The machine you build on. No -march=native: a binary built here runs on any CPU of this
# architecture; on x86 the AVX2 kernels are picked at run time from cpuid.
#
# The architecture is the compiler's target, not `uname -m`: a Raspberry Pi 4 or 5 running the
# 32-bit Raspberry Pi OS has a 64-bit kernel (uname -m says aarch64) under a 32-bit armhf
# userland and compiler.  On armhf the flags are spelled out, because Raspberry Pi OS's 32-bit
# gcc defaults to ARMv6 + VFPv2, which has no NEON.
CC ?= cc
HOST_TRIPLET := $(shell $(CC) -dumpmachine 2>/dev/null)
ifneq ($(filter x86_64-%,$(HOST_TRIPLET)),)
HOST_ARCH := x86_64
ARCH_DIRS := x86
else ifneq ($(filter aarch64-%,$(HOST_TRIPLET)),)
HOST_ARCH := aarch64
ARCH_DIRS := arm
TUNE_CFLAGS := -march=armv8-a
else ifneq ($(filter arm%-linux-gnueabihf,$(HOST_TRIPLET)),)
HOST_ARCH := armhf
ARCH_DIRS := arm
TUNE_CFLAGS := -march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard
else
HOST_ARCH := $(shell uname -m)
ARCH_DIRS :=
endif
EMU :=
