# The machine you build on. No -march=native: a binary built here runs on any CPU of this
# architecture; on x86 the AVX2 kernels are picked at run time from cpuid.
CC ?= cc
HOST_ARCH := $(shell uname -m)
ifeq ($(HOST_ARCH),x86_64)
ARCH_DIRS := x86
else ifeq ($(HOST_ARCH),aarch64)
ARCH_DIRS := arm
TUNE_CFLAGS := -march=armv8-a
else ifneq ($(filter armv7% armv8l,$(HOST_ARCH)),)
ARCH_DIRS := arm
TUNE_CFLAGS := -mfpu=neon-vfpv4 -mfloat-abi=hard
else
ARCH_DIRS :=
endif
EMU :=
