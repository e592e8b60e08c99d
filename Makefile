# nst — neural style transfer for edge boards.
#
#   make                  build/nst and build/libnst.a for this machine
#   make test             install what is missing, build, run the whole test suite
#   make demo             install what is missing, get the weights and pictures, stylize the demo picture
#   make images           build/images/: the example pictures, from ../shared or their public URLs
#   make gallery          build/gallery/gallery.png: the panel of photos x paintings at the defaults
#   make gallery-arbitrary  the same panel in one pass each, through the arbitrary-style network
#   make weights          build/vgg19.nstw from ../shared or the public Keras file
#   make bench            the benchmark (nst bench)
#   make install prefix=/usr/local   (DESTDIR, bindir, libdir, ...: toolchains/install.mk); make uninstall
#   make dist [TARGET=rpi4]  build/nst-<version>-<target>.tar.gz: program, networks, licences, man page
#   make help             every goal and variable, in short
#   make TARGET=rpi4 ...  cross-compile for a board (toolchains/*.mk); outputs in build/<target>/

# `make` alone builds `all`, whatever rule the included files or the order-only prerequisites put
# first (the included files must not reset it: tests/t_build.sh checks `make TARGET=<board>`).
.DEFAULT_GOAL := all
TARGET ?= native
comma := ,
# STATIC=1: not possible with Debian's packages -- toolchains/BOARDS.md, "Static builds".  Refused
# before a cross target's makefile builds its sysroot.
ifeq ($(STATIC),1)
$(error STATIC=1: Debian ships pthreadpool, cpuinfo and XNNPACK only as shared libraries (no .a), and a static program cannot load a shared one, so a static nst cannot be linked from them; `make dist TARGET=$(TARGET)` ships those libraries beside the program instead -- see toolchains/BOARDS.md, "Static builds")
endif
include toolchains/$(TARGET).mk

ifeq ($(TARGET),native)
BUILD ?= build
else
BUILD ?= build/$(TARGET)
endif

SHARED ?= ../shared
PYTHON ?= /usr/bin/python3
# Where `make install` puts things: the GNU conventions' directory variables (prefix, exec_prefix,
# bindir, libdir, includedir, datarootdir, datadir, mandir, docdir), each can be given; the
# uppercase names (PREFIX, BINDIR, LIBDIR, INCLUDEDIR, DATAROOTDIR, MANDIR, DOCDIR) are aliases
# the tree uses, and given, they win.  DESTDIR is prepended to every one of them, for staging:
# make install DESTDIR=/tmp/stage prefix=/usr.
$(foreach a,PREFIX:prefix BINDIR:bindir LIBDIR:libdir INCLUDEDIR:includedir DATAROOTDIR:datarootdir MANDIR:mandir DOCDIR:docdir,\
  $(if $(filter-out undefined default,$(origin $(firstword $(subst :, ,$(a))))),\
    $(eval $(lastword $(subst :, ,$(a))) := $($(firstword $(subst :, ,$(a)))))))
prefix ?= /usr/local
exec_prefix ?= $(prefix)
bindir ?= $(exec_prefix)/bin
libdir ?= $(exec_prefix)/lib
includedir ?= $(prefix)/include
datarootdir ?= $(prefix)/share
datadir ?= $(datarootdir)
mandir ?= $(datarootdir)/man
docdir ?= $(datarootdir)/doc/nst
PREFIX = $(prefix)
BINDIR = $(bindir)
LIBDIR = $(libdir)
INCLUDEDIR = $(includedir)
DATAROOTDIR = $(datarootdir)
NSTDATADIR ?= $(datadir)/nst
MANDIR = $(mandir)
DOCDIR = $(docdir)
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR ?= $(DATAROOTDIR)/bash-completion/completions
# The Python module: where Debian's python3 looks (/usr/lib/python3/dist-packages for PREFIX=/usr,
# /usr/local/lib/python3.X/dist-packages for /usr/local); any other prefix needs PYTHONPATH set to it.
PYTHONDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/python3/dist-packages,$(if $(filter /usr/local,$(PREFIX)),/usr/local/lib/python$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)/dist-packages,$(PREFIX)/lib/python3/dist-packages))
# The version (include/nst.h's) and the shared library's: libnst.so.$(SOVERSION) names the ABI,
# libnst.so.$(NST_VERSION) is the file.
NST_VERSION := $(shell sed -n 's/^\#define NST_VERSION_STRING "\(.*\)"/\1/p' include/nst.h)
SOVERSION := $(shell sed -n 's/^\#define NST_VERSION_MAJOR \([0-9]*\)/\1/p' include/nst.h)

# Debug / sanitizer builds: make SAN=1 (ASan + UBSan) in build/san/.
ifeq ($(SAN),1)
BUILD := $(BUILD)/san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

OPT ?= -O2
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CPPFLAGS += -Iinclude -Iarch -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 $(SYSROOT_CPPFLAGS)
# -ffp-contract=off: a * b + c stays two roundings with any compiler (GCC's ISO C mode already does
# so; Clang would fuse it), which the scalar twins' bits rely on.
CFLAGS += -std=c11 $(OPT) -g $(WARN) -ffp-contract=off -pthread $(TUNE_CFLAGS) $(SAN_FLAGS)
LDFLAGS += -pthread $(SYSROOT_LDFLAGS) $(SAN_FLAGS)
# Pictures: libjpeg-turbo (libjpeg62-turbo-dev) and libpng (libpng-dev, which brings zlib).
LDLIBS += -ljpeg -lpng -lpthreadpool -lm

# XNNPACK (Debian's libxnnpack-dev): the create/setup/run API generation of 2022 that Debian 12
# ships.  Found through the compiler, so a cross sysroot's copy counts; XNNPACK=0 leaves it out.
XNNPACK ?= auto
ifneq ($(XNNPACK),0)
XNNPACK_PROBE := $(shell printf '\043include <xnnpack.h>\n' | $(CC) $(CPPFLAGS) -E -x c - 2>/dev/null | grep -o -m1 -e 'xnn_reshape_convolution2d_nhwc_f32' -e 'xnn_setup_convolution2d_nhwc_f32' | head -n 1)
ifeq ($(XNNPACK_PROBE),xnn_reshape_convolution2d_nhwc_f32)
$(error nst needs XNNPACK's create/setup/run API (Debian 12's libxnnpack-dev 0.0~git20220216); the xnnpack.h found has the newer create/reshape/setup API. Build with XNNPACK=0 to leave the XNNPACK backend out)
endif
ifeq ($(XNNPACK_PROBE),xnn_setup_convolution2d_nhwc_f32)
CPPFLAGS += -DNST_HAVE_XNNPACK
LDLIBS := -lXNNPACK $(LDLIBS)
else ifeq ($(XNNPACK),1)
$(error XNNPACK=1 but <xnnpack.h> was not found: apt-get install libxnnpack-dev)
endif
endif

LIB_SRC := $(wildcard src/*.c) $(wildcard arch/generic/*.c) $(foreach d,$(ARCH_DIRS),$(wildcard arch/$(d)/*.c))
CLI_SRC := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_SUPPORT := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT:%.c=$(BUILD)/obj/%.o)
DEPS := $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_SUPPORT_OBJ:.o=.d) $(TEST_BIN:%=%.d)
# Cross targets: the sysroot (toolchains/cross.mk) before anything is compiled; empty for native.
$(LIB_OBJ) $(CLI_OBJ) $(TEST_SUPPORT_OBJ) $(TEST_BIN): | $(TOOLCHAIN_PREREQS)

# Per-ISA kernel files get their instruction-set flags; nothing else does, so the rest of the
# library runs on any CPU of the target and x86 picks the kernels from cpuid at run time.
# (tests/fuzz/fuzz.mk's build uses the same ISA_* sets.)
ISA_AVX2 := -mavx2 -mfma -mf16c
ISA_AVX512 := -mavx512f -mavx2 -mfma
ISA_AVX512VNNI := -mavx512f -mavx512bw -mavx512vnni -mavx2 -mfma
ISA_AVXVNNI := -mavxvnni -mavx2 -mfma
$(BUILD)/obj/arch/x86/%-avx2.o: ISA_CFLAGS := $(ISA_AVX2)
$(BUILD)/obj/arch/x86/%-avx512.o: ISA_CFLAGS := $(ISA_AVX512)
$(BUILD)/obj/arch/x86/%-avx512vnni.o: ISA_CFLAGS := $(ISA_AVX512VNNI)
$(BUILD)/obj/arch/x86/%-avxvnni.o: ISA_CFLAGS := $(ISA_AVXVNNI)
# src/image_stb.c compiles stb in, whose arithmetic on corrupt pictures is not all defined: its JPEG
# writer shifts a negative int, its PSD reader converts out-of-range floats to bytes when it removes
# a white matte, and its decoders compute with ints that crafted headers can overflow (-fwrapv makes
# that wrapping, defined).  Each gives wrong pixels of a corrupt picture, nothing worse; in
# sanitizer builds those checks are off in that file only (as in tests/fuzz/fuzz.mk), the ones
# that matter (bounds, addresses) stay on.  The project's own readers (src/image*.c) get no exemption.
$(BUILD)/obj/src/image_stb.o: ISA_CFLAGS += -fwrapv
ifeq ($(SAN),1)
$(BUILD)/obj/src/image_stb.o: ISA_CFLAGS += -fno-sanitize=shift,signed-integer-overflow,float-cast-overflow
endif
$(BUILD)/obj/tests/%.o: ISA_CFLAGS := -Isrc -Itests
# The library's objects are position-independent, so that libnst.so is made of the same objects as
# libnst.a (one build).  Measured on x86-64 (nst --model candy, 256 px, --bench 7, 2 threads): the
# static nst's median 43.6 / 43.7 ms built without -fPIC, 43.6 / 45.0 ms with it; the optimization
# (192 px, 20 L-BFGS iterations, vgg19.nstw): 4.34 / 4.49 s without, 4.57 / 4.48 s with: within the noise.
$(LIB_OBJ): PIC_CFLAGS := -fPIC
# nst bench reports the XNNPACK it was built against: Debian's package version (the cross sysroots
# take the same release's packages).
XNNPACK_VERSION := $(shell dpkg-query -W -f='$${Version}\n' libxnnpack-dev libxnnpack0 2>/dev/null | head -n 1)
# The data directory compiled in is the last place the CLI looks (src/cli/find.c looks first beside
# the binary and in ../share/nst from it, so an installed nst finds its data whatever PREFIX it was
# compiled with); a stamp holding it rebuilds the CLI when `make install PREFIX=...` names another.
$(BUILD)/obj/src/cli/%.o: ISA_CFLAGS := -DNST_DATADIR='"$(NSTDATADIR)"' -DNST_XNNPACK_VERSION='"$(XNNPACK_VERSION)"'
$(CLI_OBJ): $(BUILD)/datadir.stamp
# --version's commit: `git describe` when built from a repository, "unknown" from a tarball.
NST_COMMIT := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
# And the instruction sets of the GEMM kernels compiled in (arch/*/gemm-*.c: "scalar avx2 avx512").
NST_KERNEL_ISAS := $(sort $(foreach f,$(LIB_SRC),$(if $(findstring /gemm-,$(f)),$(lastword $(subst -, ,$(basename $(notdir $(f))))))))
$(BUILD)/obj/src/cli/version.o: ISA_CFLAGS += -DNST_COMMIT='"$(NST_COMMIT)"' -DNST_KERNEL_ISAS='"$(NST_KERNEL_ISAS)"'
$(BUILD)/obj/src/cli/version.o: $(BUILD)/commit.stamp
# Stamps: rewritten only when their value changes, so that make rebuilds only then.
$(BUILD)/datadir.stamp: FORCE
	@mkdir -p $(dir $@); echo '$(NSTDATADIR)' | cmp -s - $@ || echo '$(NSTDATADIR)' >$@
$(BUILD)/commit.stamp: FORCE
	@mkdir -p $(dir $@); echo '$(NST_COMMIT)' | cmp -s - $@ || echo '$(NST_COMMIT)' >$@
FORCE:

.PHONY: all lib cli tests test demo gallery gallery-arbitrary images weights bench compare clean deps deps-test deps-compare check-build dist help FORCE
# Objects that only the pattern rule of the tests names are not intermediates to delete.
.SECONDARY: $(TEST_SUPPORT_OBJ)
all: lib cli
lib: $(BUILD)/libnst.a $(BUILD)/libnst.so
cli: $(BUILD)/nst
tests: $(TEST_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(ISA_CFLAGS) $(PIC_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libnst.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# The shared library: the same objects, only the functions include/nst.h declares exported (the
# version script lists them, generated from the header; tests/t_install.sh checks readelf's list).
$(BUILD)/libnst.map: include/nst.h
	@mkdir -p $(dir $@)
	{ echo 'NST_$(SOVERSION) {'; echo '  global:'; \
	  grep -E '^[a-z].*[^a-z0-9_]nst_[a-z0-9_]+\(' $< | sed -E 's/^[^(]*[^a-z0-9_](nst_[a-z0-9_]+)\(.*/    \1;/' | sort -u; \
	  echo '  local: *;'; echo '};'; } >$@
$(BUILD)/libnst.so.$(NST_VERSION): $(LIB_OBJ) $(BUILD)/libnst.map
	$(CC) -shared -Wl,-soname,libnst.so.$(SOVERSION) -Wl,--version-script=$(BUILD)/libnst.map -Wl,--no-undefined \
	    $(LDFLAGS) $(LIB_OBJ) $(LDLIBS) -o $@
$(BUILD)/libnst.so.$(SOVERSION) $(BUILD)/libnst.so: $(BUILD)/libnst.so.$(NST_VERSION)
	ln -sf $(notdir $<) $@
$(BUILD)/libnst.so: $(BUILD)/libnst.so.$(SOVERSION)

$(BUILD)/nst: $(CLI_OBJ) $(BUILD)/libnst.a
	$(CC) $(LDFLAGS) $(CLI_OBJ) $(BUILD)/libnst.a $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT_OBJ) $(BUILD)/libnst.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Isrc -Iarch -Itests $(CFLAGS) -MMD -MP $< $(TEST_SUPPORT_OBJ) $(BUILD)/libnst.a $(LDFLAGS) $(LDLIBS) -o $@

deps:
	@toolchains/deps.sh build $(TARGET)

deps-test:
	@toolchains/deps.sh test $(TARGET)

deps-compare:
	@toolchains/deps.sh compare $(TARGET)

# The suite: unit tests per operator and kernel, gradients against finite differences, every
# error path, parity with ../shared/reference, run under qemu for ARM targets.  TESTS='regex'
# runs only the tests whose names match (e.g. TESTS='^test_|t_parity').
test: deps-test
	$(MAKE) --no-print-directory all tests
	$(MAKE) --no-print-directory weights
	BUILD=$(BUILD) SHARED=$(SHARED) PYTHON=$(PYTHON) EMU="$(EMU)" TESTS="$(TESTS)" tests/run.sh

# fetch.sh is idempotent and quick when everything is up to date (VGG and the fast styles).
weights:
	@mkdir -p $(BUILD)
	SHARED=$(SHARED) PYTHON=$(PYTHON) weights/fetch.sh $(BUILD)/vgg19.nstw

# The example pictures of ../shared/images/SOURCES.md in $(BUILD)/images: from ../shared when
# present, else the cache, Debian's python3-skimage or their public URLs, sha256 checked
# (weights/fetch-images.sh says exactly what is missing when offline).
images:
	SHARED=$(SHARED) weights/fetch-images.sh $(BUILD)/images

# The main job on the defaults (network, layers, weights, 256 px, L-BFGS until the picture stops
# changing); DEMO_ARGS adds options (DEMO_ARGS='--size 512').
DEMO_CONTENT ?= astronaut.png
DEMO_STYLE ?= starry_night.jpg
DEMO_ARGS ?=
demo: deps
	$(MAKE) --no-print-directory all weights
	SHARED=$(SHARED) weights/fetch-images.sh $(BUILD)/images $(DEMO_CONTENT) $(DEMO_STYLE)
	$(EMU) $(BUILD)/nst -c $(BUILD)/images/$(DEMO_CONTENT) -s $(BUILD)/images/$(DEMO_STYLE) \
	    -o $(BUILD)/demo.png --sheet $(BUILD)/demo-sheet.png $(DEMO_ARGS)
	@echo "demo: wrote $(BUILD)/demo.png (and the side-by-side $(BUILD)/demo-sheet.png)"

# The panel at the defaults as one labelled contact sheet, $(BUILD)/gallery/gallery.png (photos as
# rows, paintings as columns; about 10-20 minutes on this machine, 2 threads).  GALLERY_ARGS adds
# nst options to every run; the README's copy: GALLERY_SMALL=tests/gallery/gallery.jpg.
GALLERY_PHOTOS ?= astronaut.png,chelsea.png,coffee.png,rocket.jpg
GALLERY_PAINTINGS ?= starry_night.jpg,great_wave.jpg,shipwreck.jpg
GALLERY_ARGS ?=
GALLERY_SMALL ?=
gallery: deps-test
	$(MAKE) --no-print-directory all weights
	SHARED=$(SHARED) weights/fetch-images.sh $(BUILD)/images $(subst $(comma), ,$(GALLERY_PHOTOS) $(GALLERY_PAINTINGS))
	$(PYTHON) tests/gallery/gallery.py --nst "$(EMU) $(BUILD)/nst" --out $(BUILD)/gallery --images $(BUILD)/images \
	    --photos $(GALLERY_PHOTOS) --paintings $(GALLERY_PAINTINGS) $(if $(GALLERY_SMALL),--small $(GALLERY_SMALL)) \
	    -- $(GALLERY_ARGS)

# The same panel through the arbitrary-style network, one pass per picture at 256 px (seconds in
# all): $(BUILD)/gallery-arbitrary/gallery.png; the README's copy: GALLERY_SMALL=tests/gallery/arbitrary.jpg.
gallery-arbitrary: deps-test
	$(MAKE) --no-print-directory all weights
	SHARED=$(SHARED) weights/fetch-images.sh $(BUILD)/images $(subst $(comma), ,$(GALLERY_PHOTOS) $(GALLERY_PAINTINGS))
	$(PYTHON) tests/gallery/gallery.py --nst "$(EMU) $(BUILD)/nst" --out $(BUILD)/gallery-arbitrary \
	    --images $(BUILD)/images --photos $(GALLERY_PHOTOS) --paintings $(GALLERY_PAINTINGS) \
	    $(if $(GALLERY_SMALL),--small $(GALLERY_SMALL)) -- --model arbitrary --size 256 $(GALLERY_ARGS)

bench: all weights
	$(EMU) $(BUILD)/nst bench

# nst beside torch_nst.py: time per iteration, peak RSS and loss at equal iterations, as ratios.
COMPARE_ARGS ?= --sizes 256,512 --threads 2 --iterations 20
compare: all weights deps-compare
	$(PYTHON) tests/bench/compare_torch.py --build $(BUILD) --shared $(SHARED) $(COMPARE_ARGS)

clean:
	rm -rf build

# make help: the goals and the variables, in short (the top of this file says more).
help:
	@printf '%s\n' \
	  'Goals:' \
	  '  make [all]            build/nst, build/libnst.a and build/libnst.so.$(SOVERSION) for this machine' \
	  '  make weights          the networks: build/vgg19*.nstw, build/styles/*.nstw (from $$SHARED or the web)' \
	  '  make test             install the test packages, build, run the suite (TESTS=regex: some tests)' \
	  '  make demo             stylize the demo picture; make gallery, gallery-arbitrary: the panels' \
	  '  make bench            nst bench; make compare: beside PyTorch and OpenCV' \
	  '  make install          the program, libraries, header, nst.pc, networks, man page, completion,' \
	  '                        Python module, licences (toolchains/install.mk); make uninstall removes them;' \
	  '                        make install-strip: the same, the program and library stripped' \
	  '  make dist             build/nst-$(NST_VERSION)-<target>.tar.gz: program, networks, licences, man page' \
	  '  make deps, deps-test  the Debian packages building / testing needs (deps-compare: make compare)' \
	  '  make clean            remove build/' \
	  'Variables (now):' \
	  '  TARGET=$(TARGET)        a board: $(patsubst toolchains/%.mk,%,$(filter-out toolchains/cross.mk toolchains/dist.mk toolchains/install.mk,$(wildcard toolchains/*.mk)))' \
	  '  prefix=$(prefix)  DESTDIR=$(DESTDIR)  exec_prefix bindir libdir includedir datarootdir datadir mandir docdir' \
	  '  (or PREFIX BINDIR LIBDIR INCLUDEDIR DATAROOTDIR MANDIR DOCDIR)  NSTDATADIR=$(NSTDATADIR)  INSTALL=$(INSTALL)' \
	  '  PKGCONFIGDIR BASHCOMPDIR PYTHONDIR=$(PYTHONDIR)' \
	  '  SHARED=$(SHARED)  PYTHON=$(PYTHON)  XNNPACK=$(XNNPACK) (0: without)  SAN=1: ASan + UBSan in $(BUILD)/san' \
	  'Version $(NST_VERSION) (libnst.so.$(SOVERSION)); nst --version says the commit and the build features.'

include toolchains/install.mk
include toolchains/dist.mk
include tests/fuzz/fuzz.mk

-include $(DEPS)
