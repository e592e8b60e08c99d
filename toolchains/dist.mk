# make dist [TARGET=...]: build/nst-<version>-<target>.tar.gz, everything a board needs to run nst:
#
#   nst-<version>-<target>/nst          the program (stripped)
#   nst-<version>-<target>/vgg19.nstw   the weights, when built (found beside the binary at run time)
#   nst-<version>-<target>/lib/         cross targets: the shared libraries nst needs besides glibc
#                                       (Debian's libpthreadpool0, libjpeg62-turbo, libpng16-16 and
#                                       zlib1g, and libxnnpack0 + libcpuinfo0 when linked), found
#                                       through the binary's RPATH $ORIGIN/lib
#   nst-<version>-<target>/vgg19-distilled.nstw  the distilled network, when built
#   nst-<version>-<target>/styles/      the trained networks and arbitrary.nstw, when built (found
#                                       beside the binary: nst --model candy)
#   nst-<version>-<target>/LICENSE, CREDITS.md, CHANGELOG.md, nst.1   nst's licence, the networks'
#                                       authors and licences, the changes, the man page (man -l nst.1)
#   nst-<version>-<target>/README       what to run, what the board needs
#
# The weights are target-independent: $(BUILD)/vgg19.nstw is used, else build/vgg19.nstw (the native
# build's); `make weights` makes them.  Included by the Makefile after its rules.

ifeq ($(TARGET),native)
DIST_TARGET := native-$(HOST_ARCH)
else
DIST_TARGET := $(TARGET)
endif
DIST_NAME := nst-$(NST_VERSION)-$(DIST_TARGET)
DIST_STAGE := $(BUILD)/dist
DIST_DIR := $(DIST_STAGE)/$(DIST_NAME)
DIST_TARBALL := build/$(DIST_NAME).tar.gz
STRIP ?= strip
BOARD_NAME ?= this machine ($(HOST_ARCH))

define DIST_README
nst $(NST_VERSION) -- neural style transfer, built for $(BOARD_NAME)
(make TARGET=$(TARGET)).

Run it from this directory:

  ./nst -c photo.jpg -s style.jpg -o out.png --size 256
  ./nst -c photo.jpg -s style.jpg -o out.png --size 128 -n 50    # quicker
  ./nst bench                                                    # seconds per iteration here
  ./nst --help

Weights: vgg19-distilled.nstw beside the binary is used by default@DISTILLED_NOTE@, else
vgg19.nstw@WEIGHTS_NOTE@
One pass: ./nst --model candy -c photo.jpg -o out.png (styles/ beside the binary), or
./nst --model arbitrary -c photo.jpg -s painting.jpg -o out.png.  man -l nst.1: every option.
Licences: LICENSE (nst, MIT); the networks' authors and licences: CREDITS.md (VGG19: CC BY 4.0).
Elsewhere: --weights FILE, or NST_WEIGHTS=FILE.  nst uses every online core by default
(--threads N to change it); start with --size 128 on a board with 1 GB or less.

What the board needs
  CPU:       @CPU@
  C library: glibc @GLIBC@ or newer: Raspberry Pi OS / Debian 12 (bookworm) or newer, Ubuntu
             22.04 (JetPack 6 on a Jetson Orin) or newer.  Older systems (Ubuntu 18.04 on a
             Jetson Nano, JetPack 4) cannot run this binary: build nst on the board there.
  Libraries: @LIBS@
             @LIBS_NOTE@

Check with:  ldd ./nst   (every line must resolve; "not found" names what is missing)
endef

.PHONY: dist
dist: $(BUILD)/nst
	rm -rf $(DIST_DIR) $(DIST_TARBALL)
	mkdir -p $(DIST_DIR)
	$(STRIP) -o $(DIST_DIR)/nst $(BUILD)/nst
	$(file >$(BUILD)/dist-README.in,$(DIST_README))
	set -e; w=; for f in $(BUILD)/vgg19.nstw build/vgg19.nstw; do [ -f $$f ] && { w=$$f; break; }; done; \
	if [ -n "$$w" ]; then cp $$w $(DIST_DIR)/vgg19.nstw; note=" (included here)."; else \
	  echo "dist: warning: no vgg19.nstw in $(BUILD)/ or build/ (make weights): the tarball has no weights" >&2; \
	  note=": NOT included in this tarball -- copy one here (make weights on a PC builds it)."; fi; \
	libdir="$(SYSROOT_LIBDIR)"; need=$$(readelf -d $(BUILD)/nst | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); \
	bundled=; queue="$$need"; \
	while [ -n "$$libdir" ] && [ -n "$$queue" ]; do \
	  set -- $$queue; l=$$1; shift; queue="$$*"; \
	  case " $$bundled " in *" $$l "*) continue ;; esac; \
	  [ -f "$$libdir/$$l" ] || continue; \
	  mkdir -p $(DIST_DIR)/lib; cp -L "$$libdir/$$l" $(DIST_DIR)/lib/; $(STRIP) --strip-unneeded $(DIST_DIR)/lib/$$l; \
	  bundled="$$bundled $$l"; queue="$$queue $$(readelf -d "$$libdir/$$l" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"; \
	done; \
	glibc=$$(for f in $(DIST_DIR)/nst $(DIST_DIR)/lib/*; do [ -f $$f ] && readelf -V $$f; done 2>/dev/null \
	  | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1); \
	pkgs=$$(for l in $$need $$bundled; do case $$l in libpthreadpool.so*) echo libpthreadpool0;; \
	  libXNNPACK.so*) echo libxnnpack0;; libcpuinfo.so*) echo libcpuinfo0;; libstb.so*) echo libstb0;; \
	  libjpeg.so*) echo libjpeg62-turbo;; libpng16.so*) echo libpng16-16;; libz.so*) echo zlib1g;; esac; done | sort -u | paste -sd' '); \
	if [ -n "$$bundled" ]; then libs="bundled in lib/:$$bundled"; \
	  libsnote="(or delete lib/ and use the system's: sudo apt install $$pkgs)"; \
	else libs="$$(echo $$need | tr ' ' '\n' | grep -v '^\(libc\|libm\|ld-linux\)' | paste -sd' ')"; \
	  libsnote="$${pkgs:+from the system: sudo apt install $$pkgs}"; fi; \
	dnote=" (not in this tarball)"; for f in $(BUILD)/vgg19-distilled.nstw build/vgg19-distilled.nstw; do \
	  [ -f $$f ] && { dnote=" (included here)"; break; }; done; \
	sed -e "s|@WEIGHTS_NOTE@|$$note|" -e "s|@DISTILLED_NOTE@|$$dnote|" -e "s|@GLIBC@|$$glibc|" -e "s|@LIBS@|$$libs|" -e "s|@LIBS_NOTE@|$$libsnote|" \
	  -e "s|@CPU@|$(if $(TUNE_CFLAGS),built with $(TUNE_CFLAGS),any $(HOST_ARCH) CPU)|" \
	  $(BUILD)/dist-README.in >$(DIST_DIR)/README
	rm -f $(BUILD)/dist-README.in
	for f in $(BUILD)/vgg19-distilled.nstw build/vgg19-distilled.nstw; do [ -f $$f ] && { cp $$f $(DIST_DIR)/; break; }; done; \
	for d in $(BUILD)/styles build/styles; do \
	  if ls $$d/*.nstw >/dev/null 2>&1; then mkdir -p $(DIST_DIR)/styles; cp $$d/*.nstw $(DIST_DIR)/styles/; break; fi; done; \
	[ -d $(DIST_DIR)/styles ] || echo "dist: warning: no styles/*.nstw in $(BUILD)/ or build/ (make weights): nst --model will find none" >&2
	cp LICENSE weights/CREDITS.md CHANGELOG.md doc/nst.1 $(DIST_DIR)/
	tar -C $(DIST_STAGE) --owner=0 --group=0 -czf $(DIST_TARBALL) $(DIST_NAME)
	@echo "dist: wrote $(DIST_TARBALL)"; tar -tvzf $(DIST_TARBALL)
