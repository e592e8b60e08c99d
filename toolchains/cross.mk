# Shared logic of the cross targets.  A target file sets
#   CROSS_ARCH   Debian architecture: arm64 or armhf
#   TUNE_CFLAGS  the board's -mcpu / -march flags (never -march=native here)
#   QEMU_CPU     the qemu -cpu model that runs the tests (the board's core, or the closest qemu has)
# and includes this file, which sets CC, AR, ARCH_DIRS, SYSROOT_CPPFLAGS, SYSROOT_LDFLAGS, EMU and
# the sysroot rule.
#
# One C library throughout: the cross toolchain's glibc in /usr/<triplet> (libc6-dev-<arch>-cross)
# is what the compiler links against and what qemu loads (-L /usr/<triplet>).  The sysroot,
# build/sysroot/<arch> (toolchains/sysroot.sh), contributes only XNNPACK, pthreadpool, cpuinfo,
# stb, libjpeg-turbo, libpng and zlib; at run time qemu finds them through LD_LIBRARY_PATH (-E).  A multiarch glibc
# (/lib/<triplet>, from libc6:<arch>) must not be mixed in: it hangs at the first pthread_create.

ifeq ($(CROSS_ARCH),arm64)
CROSS_TRIPLET := aarch64-linux-gnu
QEMU := qemu-aarch64
else ifeq ($(CROSS_ARCH),armhf)
CROSS_TRIPLET := arm-linux-gnueabihf
QEMU := qemu-arm
else
$(error toolchains/$(TARGET).mk: CROSS_ARCH must be arm64 or armhf, not '$(CROSS_ARCH)')
endif

# := so that make's built-in defaults (cc, ar) give way; CC=... on the command line still wins
# (e.g. CC=$(CROSS_TRIPLET)-gcc-12).
CC := $(CROSS_TRIPLET)-gcc
AR := $(CROSS_TRIPLET)-ar
STRIP := $(CROSS_TRIPLET)-strip
ARCH_DIRS := arm

CROSS_GLIBC := /usr/$(CROSS_TRIPLET)
SYSROOT := $(CURDIR)/build/sysroot/$(CROSS_ARCH)
SYSROOT_LIBDIR := $(SYSROOT)/usr/lib/$(CROSS_TRIPLET)
SYSROOT_STAMP := $(SYSROOT)/.stamp

# -isystem: the libraries' headers are system headers, as /usr/include is for a native build
# (no -Werror surprises from them), searched before the host's /usr/include, which Debian's cross
# gcc also searches last; usr/include/<triplet> holds libjpeg-turbo's jconfig.h.  -rpath-link: libXNNPACK.so.0 needs libcpuinfo.so.0 and
# libpthreadpool.so.0 from the same directory.  RPATH $ORIGIN/lib: a binary unpacked from
# `make dist` finds the libraries shipped beside it, and the board's own ones otherwise.  An RPATH
# (--disable-new-dtags), not a RUNPATH: a RUNPATH would not be searched for libXNNPACK.so.0's own
# dependencies (libcpuinfo.so.0), an RPATH is.
SYSROOT_CPPFLAGS := -isystem $(SYSROOT)/usr/include -isystem $(SYSROOT)/usr/include/$(CROSS_TRIPLET)
SYSROOT_LDFLAGS := -L$(SYSROOT_LIBDIR) -Wl,-rpath-link,$(SYSROOT_LIBDIR) -Wl,--disable-new-dtags,-rpath,'$$ORIGIN/lib'

# The emulator every ARM program is run with: make test / demo / bench, and tests/run.sh
# (NST_EMU for the test scripts).  Absolute paths, so it works from any directory.
EMU := $(QEMU) -cpu $(QEMU_CPU) -L $(CROSS_GLIBC) -E LD_LIBRARY_PATH=$(SYSROOT_LIBDIR)

# The sysroot is built when missing, while the makefiles are read: the Makefile probes
# <xnnpack.h> through $(CC) $(CPPFLAGS) as it parses, so the sysroot must exist by then (else the
# probe would miss XNNPACK, or find the host's /usr/include/xnnpack.h, which Debian's cross gcc
# searches last).  Not for goals that only clean or install packages.  Quick when it exists.
ifneq ($(filter-out clean deps deps-test,$(or $(MAKECMDGOALS),all)),)
ifeq ($(wildcard $(SYSROOT_STAMP)),)
ifneq ($(shell toolchains/sysroot.sh $(CROSS_ARCH) $(SYSROOT) >&2 && echo ok),ok)
$(error could not build the $(CROSS_ARCH) sysroot: toolchains/sysroot.sh $(CROSS_ARCH) $(SYSROOT) failed)
endif
endif
ifeq ($(shell command -v $(CC)),)
$(warning $(CC) not found: run 'make deps TARGET=$(TARGET)' (installs the cross compiler, its glibc and qemu-user))
endif
endif

# Should the sysroot vanish during a build, the Makefile can also hook it as an order-only
# prerequisite:   $(LIB_OBJ) $(CLI_OBJ) $(TEST_SUPPORT_OBJ) $(TEST_BIN): | $(TOOLCHAIN_PREREQS)
TOOLCHAIN_PREREQS := $(SYSROOT_STAMP)

# Also when sysroot.sh changed (a library added to its list): the script rebuilds only when its
# list differs from the stamp's, and the touch keeps make from asking again.
$(SYSROOT_STAMP): toolchains/sysroot.sh
	@command -v $(CC) >/dev/null 2>&1 || { echo "nst: $(CC) not found: run 'make deps TARGET=$(TARGET)' (installs the cross compiler, qemu-user and the sysroot)" >&2; exit 1; }
	toolchains/sysroot.sh $(CROSS_ARCH) $(SYSROOT)
	@touch $@

.PHONY: sysroot
sysroot: $(SYSROOT_STAMP)

# The rule above does not become the default goal: the Makefile sets .DEFAULT_GOAL := all before
# including this file (resetting it here made `make TARGET=rpi4` build one object file and stop).
