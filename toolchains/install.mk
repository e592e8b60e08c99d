# make install / make uninstall: everything a user of nst needs, where the GNU conventions put it
# (the directories are the Makefile's: the GNU names prefix, bindir, libdir, ... or their uppercase
# aliases; DESTDIR stages them all; INSTALL, INSTALL_PROGRAM, INSTALL_DATA as GNU says):
#
#   $(BINDIR)/nst                       the program
#   $(LIBDIR)/libnst.a, libnst.so.$(NST_VERSION), libnst.so.$(SOVERSION), libnst.so
#   $(LIBDIR)/pkgconfig/nst.pc          pkg-config --cflags --libs nst (--static for libnst.a)
#   $(INCLUDEDIR)/nst.h
#   $(NSTDATADIR)/vgg19*.nstw           the optimization's networks (those `make weights` made)
#   $(NSTDATADIR)/styles/*.nstw         the trained networks and the arbitrary-style one
#   $(DOCDIR)/LICENSE, CREDITS.md, CHANGELOG.md   nst's licence; the networks' authors and licences
#   $(MANDIR)/man1/nst.1                man nst (the data directory of this install written in)
#   $(BASHCOMPDIR)/nst                  bash completion
#   $(PYTHONDIR)/nst.py                 import nst (ctypes, on libnst.so.$(SOVERSION)), with this install's
#                                       directories written in (its _INSTALL_DIRS line)
#   $(NSTDATADIR)/install-manifest      every file above, as installed: what make uninstall removes
#
# The installed nst finds its networks in ../share/nst from its own location first (src/cli/find.c),
# then in the NSTDATADIR compiled in (rebuilt when it changes: the Makefile's datadir stamp), so
# `make && make install PREFIX=/usr` and `make install PREFIX=/usr` alone both give a working nst.
# Included by the Makefile after its rules.

.PHONY: install install-strip uninstall

INSTALL ?= install
INSTALL_PROGRAM ?= $(INSTALL)
INSTALL_DATA ?= $(INSTALL) -m 644

# The pkg-config file for the directories of this install: rebuilt when they change (the prefix
# stamp), never at make -n.  No Requires.private: pkg-config checks those packages even for
# --cflags, which then fails where libpng-dev or libjpeg-dev is missing; every private library is
# in Libs.private (XNNPACK and pthreadpool have no .pc anyway).
NST_PC_DIRS = $(PREFIX) $(LIBDIR) $(INCLUDEDIR) $(NSTDATADIR) $(NST_VERSION) $(filter -l%,$(LDLIBS))
$(BUILD)/prefix.stamp: FORCE
	@mkdir -p $(dir $@); echo '$(NST_PC_DIRS)' | cmp -s - $@ || echo '$(NST_PC_DIRS)' >$@
$(BUILD)/nst.pc: $(BUILD)/prefix.stamp toolchains/install.mk
	{ echo 'prefix=$(PREFIX)'; \
	  echo 'libdir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))'; \
	  echo 'includedir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))'; \
	  echo 'datadir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(NSTDATADIR))'; \
	  echo; \
	  echo 'Name: nst'; \
	  echo 'Description: Neural style transfer for edge boards: optimization, trained and arbitrary-style networks'; \
	  echo 'Version: $(NST_VERSION)'; \
	  echo 'Libs: -L$${libdir} -lnst'; \
	  echo 'Libs.private: $(filter -lXNNPACK,$(LDLIBS)) -lpthreadpool -ljpeg -lpng -lm -pthread'; \
	  echo 'Cflags: -I$${includedir}'; } >$@

NST_WEIGHTS_BUILT = $(wildcard $(BUILD)/vgg19.nstw $(BUILD)/vgg19-distilled.nstw)
NST_STYLES_BUILT = $(wildcard $(BUILD)/styles/*.nstw)
NST_DOCS := LICENSE weights/CREDITS.md CHANGELOG.md
NST_MANIFEST = $(NSTDATADIR)/install-manifest
# Every file install writes, as installed (without DESTDIR): the manifest's lines.
NST_INSTALLED = $(BINDIR)/nst $(LIBDIR)/libnst.a $(LIBDIR)/libnst.so.$(NST_VERSION) $(LIBDIR)/libnst.so.$(SOVERSION) \
    $(LIBDIR)/libnst.so $(PKGCONFIGDIR)/nst.pc $(INCLUDEDIR)/nst.h $(MANDIR)/man1/nst.1 $(BASHCOMPDIR)/nst \
    $(PYTHONDIR)/nst.py $(addprefix $(DOCDIR)/,$(notdir $(NST_DOCS))) \
    $(addprefix $(NSTDATADIR)/,$(notdir $(NST_WEIGHTS_BUILT))) $(addprefix $(NSTDATADIR)/styles/,$(notdir $(NST_STYLES_BUILT)))

install: all $(BUILD)/nst.pc
	@[ -n "$(NST_WEIGHTS_BUILT)" ] || echo "install: warning: no $(BUILD)/vgg19.nstw (make weights): the optimization will need --weights" >&2
	@[ -n "$(NST_STYLES_BUILT)" ] || echo "install: warning: no $(BUILD)/styles/*.nstw (make weights): nst --model NAME will not find them" >&2
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(NSTDATADIR)/styles $(DESTDIR)$(DOCDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) \
	    $(DESTDIR)$(PYTHONDIR)
	$(INSTALL_PROGRAM) $(BUILD)/nst $(DESTDIR)$(BINDIR)/nst
	$(INSTALL_DATA) $(BUILD)/libnst.a $(DESTDIR)$(LIBDIR)/libnst.a
	$(INSTALL_PROGRAM) $(BUILD)/libnst.so.$(NST_VERSION) $(DESTDIR)$(LIBDIR)/libnst.so.$(NST_VERSION)
	ln -sf libnst.so.$(NST_VERSION) $(DESTDIR)$(LIBDIR)/libnst.so.$(SOVERSION)
	ln -sf libnst.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libnst.so
	$(INSTALL_DATA) $(BUILD)/nst.pc $(DESTDIR)$(PKGCONFIGDIR)/nst.pc
	$(INSTALL_DATA) include/nst.h $(DESTDIR)$(INCLUDEDIR)/nst.h
	$(if $(NST_WEIGHTS_BUILT),$(INSTALL_DATA) $(NST_WEIGHTS_BUILT) $(DESTDIR)$(NSTDATADIR)/)
	$(if $(NST_STYLES_BUILT),$(INSTALL_DATA) $(NST_STYLES_BUILT) $(DESTDIR)$(NSTDATADIR)/styles/)
	$(INSTALL_DATA) $(NST_DOCS) $(DESTDIR)$(DOCDIR)/
	sed 's|/usr/local/share/nst by default|$(NSTDATADIR) in this install|' doc/nst.1 >$(DESTDIR)$(MANDIR)/man1/nst.1
	chmod 644 $(DESTDIR)$(MANDIR)/man1/nst.1
	$(INSTALL_DATA) doc/nst.bash-completion $(DESTDIR)$(BASHCOMPDIR)/nst
	sed 's|^_INSTALL_DIRS = None$$|_INSTALL_DIRS = {"python": "$(PYTHONDIR)", "lib": "$(LIBDIR)", "bin": "$(BINDIR)", "data": "$(NSTDATADIR)"}|' \
	    python/nst.py >$(DESTDIR)$(PYTHONDIR)/nst.py
	chmod 644 $(DESTDIR)$(PYTHONDIR)/nst.py
	printf '%s\n' $(NST_INSTALLED) >$(DESTDIR)$(NST_MANIFEST)
	@case "$(PYTHONDIR)" in /usr/lib/python3/dist-packages | /usr/local/lib/python3*/dist-packages) ;; \
	  *) echo "install: the Python module is in $(PYTHONDIR): PYTHONPATH=$(PYTHONDIR) python3 -c 'import nst'" ;; esac
	@# A library in a system directory is found by its soname once the cache knows it.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

# GNU's install-strip: the program and the shared library stripped as they are installed.
install-strip:
	$(MAKE) --no-print-directory INSTALL_PROGRAM='$(INSTALL_PROGRAM) -s --strip-program=$(STRIP)' install

# The files the manifest names (written by install: the networks install wrote, not a user's own
# beside them; the Python module where it went, whatever python3 is now), else, from an install
# without one, the files this tree would install and nst.py in every python3* folder of the prefix;
# then the folders that are nst's own, when empty.
uninstall:
	m=$(DESTDIR)$(NST_MANIFEST); \
	if [ -f "$$m" ]; then files=$$(cat "$$m"); else \
	  files="$(NST_INSTALLED) $(patsubst $(DESTDIR)%,%,$(wildcard $(DESTDIR)$(PREFIX)/lib/python3*/dist-packages/nst.py))"; fi; \
	for f in $$files; do rm -f "$(DESTDIR)$$f"; \
	  case $$f in */nst.py) d="$(DESTDIR)$${f%/nst.py}/__pycache__"; rm -f "$$d"/nst.*.pyc; rmdir "$$d" 2>/dev/null || true ;; esac; \
	done; rm -f "$$m"
	@for d in $(DESTDIR)$(NSTDATADIR)/styles $(DESTDIR)$(NSTDATADIR) $(DESTDIR)$(DOCDIR); do \
	  if [ -d $$d ]; then rmdir $$d 2>/dev/null || echo "uninstall: $$d is not empty: left as it is" >&2; fi; done
