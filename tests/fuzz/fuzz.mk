# libFuzzer harnesses (clang): included by the Makefile.
#
#   make fuzz                    build tests/fuzz/fuzz_*.c into $(FUZZ_BUILD)/, replay the kept
#                                reproducers, then fuzz each harness for FUZZ_SECONDS (default 60);
#                                fails if anything crashes, printing the reproducer
#   make fuzz-build              only build the harnesses and the seed corpora
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS=weights FUZZ_ARGS=-jobs=2
#
# The library's sources are compiled here again with clang and -fsanitize=fuzzer-no-link,address,
# undefined (the normal libnst.a is not used); the seed corpora are made by tests/fuzz/make-corpus.sh
# from ../shared (never committed).  Native builds only.

FUZZ_CC ?= clang
FUZZ_BUILD ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= image weights checkpoint
FUZZ_ARGS ?=
SHARED ?= ../shared
PYTHON ?= /usr/bin/python3

FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CPPFLAGS := -Iinclude -Iarch -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64
FUZZ_CFLAGS := -std=c11 -O1 -g -ffp-contract=off -pthread $(FUZZ_SAN) -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
               -Wno-unused-parameter
# The native library: every source, with the x86 kernels when on x86 (picked at run time).
FUZZ_ARCH_DIRS := $(if $(filter x86_64,$(shell uname -m)),x86,$(if $(filter aarch64 armv7% armv8l,$(shell uname -m)),arm,))
FUZZ_LIB_SRC := $(wildcard src/*.c) $(wildcard arch/generic/*.c) $(foreach d,$(FUZZ_ARCH_DIRS),$(wildcard arch/$(d)/*.c))
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BIN := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
# fuzz_weights validates the bytes in memory where the library has nst_weights_open_memory.
FUZZ_WEIGHTS_MEMORY := $(if $(shell grep -s -l nst_weights_open_memory src/internal.h),-DNST_FUZZ_WEIGHTS_MEMORY)

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BIN) $(FUZZ_BUILD)/corpus.stamp

# clang, libFuzzer's runtime and PIL first (toolchains/deps.sh fuzz), then the build, then the runs.
fuzz:
	@toolchains/deps.sh fuzz native
	$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_ARGS="$(FUZZ_ARGS)" tests/fuzz/fuzz.sh $(FUZZ_TARGETS)

# The kernel files' instruction sets: the Makefile's ISA_* (one list for both builds).
$(FUZZ_BUILD)/obj/arch/x86/%-avx2.o: FUZZ_ISA := $(ISA_AVX2)
$(FUZZ_BUILD)/obj/arch/x86/%-avx512.o: FUZZ_ISA := $(ISA_AVX512)
$(FUZZ_BUILD)/obj/arch/x86/%-avx512vnni.o: FUZZ_ISA := $(ISA_AVX512VNNI)
$(FUZZ_BUILD)/obj/arch/x86/%-avxvnni.o: FUZZ_ISA := $(ISA_AVXVNNI)
$(FUZZ_BUILD)/obj/arch/arm/%.o: FUZZ_ISA := $(TUNE_CFLAGS)
# src/image_stb.c compiles stb in, whose arithmetic on corrupt pictures is not all defined: its JPEG
# writer shifts a negative int (the Makefile's SAN=1 skips that check there too), its decoders
# compute with ints that crafted headers can overflow (-fwrapv defines that as wrapping) and its PSD
# reader converts out-of-range floats to bytes when it removes a white matte.  Each gives wrong
# pixels of a corrupt picture, nothing worse; the checks that matter (bounds, addresses) stay on,
# and the project's own readers (src/image*.c) are checked in full.
$(FUZZ_BUILD)/obj/src/image_stb.o: FUZZ_ISA := -fwrapv -fno-sanitize=shift,signed-integer-overflow,float-cast-overflow

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_ISA) -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libnst-fuzz.a: $(FUZZ_LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# fuzz_checkpoint writes its tiny network with the tests' own writer (tests/support.c).
FUZZ_SUPPORT = $(if $(filter fuzz_checkpoint,$(notdir $@)),tests/support.c)
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h tests/support.c $(FUZZ_BUILD)/libnst-fuzz.a
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) -Isrc -Itests -Itests/fuzz $(FUZZ_CFLAGS) $(if $(filter fuzz_weights,$(notdir $@)),$(FUZZ_WEIGHTS_MEMORY)) \
	    -Werror -fsanitize=fuzzer $< $(FUZZ_SUPPORT) \
	    $(FUZZ_BUILD)/libnst-fuzz.a -ljpeg -lpng -lpthreadpool -lm -o $@

$(FUZZ_BUILD)/corpus.stamp: tests/fuzz/make-corpus.sh
	SHARED=$(SHARED) PYTHON=$(PYTHON) tests/fuzz/make-corpus.sh $(FUZZ_BUILD)
	@touch $@

-include $(FUZZ_LIB_OBJ:.o=.d)
