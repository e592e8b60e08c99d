# make install / make uninstall: everything a user of nst needs, where the GNU conventions put it
# (the directories are the Makefile's: BINDIR, LIBDIR, ...; DESTDIR stages them all):
#
#   $(BINDIR)/nst                       the program
#   $(LIBDIR)/libnst.a, libnst.so.$(NST_VERSION), libnst.so.$(SOVERSION), libnst.so
#   $(LIBDIR)/pkgconfig/nst.pc          pkg-config --cflags --libs nst (--static for libnst.a)
#   $(INCLUDEDIR)/nst.h
#   $(NSTDATADIR)/vgg19*.nstw           the optimization's networks (those `make weights` made)
#   $(NSTDATADIR)/styles/*.nstw         the trained networks and the arbitrary-style one
#   $(DOCDIR)/LICENSE, CREDITS.md, CHANGELOG.md   nst's licence; the networks' authors and licences
#   $(MANDIR)/man1/nst.1                man nst
#   $(BASHCOMPDIR)/nst                  bash completion
#   $(PYTHONDIR)/nst.py                 import nst (ctypes, on libnst.so.$(SOVERSION))
#
# The installed nst finds its networks in ../share/nst from its own location first (src/cli/find.c),
# then in the NSTDATADIR compiled in (rebuilt when it changes: the Makefile's datadir stamp), so
# `make && make install PREFIX=/usr` and `make install PREFIX=/usr` alone both give a working nst.
# Included by the Makefile after its rules.

.PHONY: install uninstall

# The pkg-config file for the directories of this install (written at install time, so that the
# PREFIX given to `make install` is the one it names).  Debian ships libpng.pc and libjpeg.pc
# (Requires.private); XNNPACK and pthreadpool have none (Libs.private).
define NST_PC
prefix=$(PREFIX)
libdir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
includedir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))
datadir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(NSTDATADIR))

Name: nst
Description: Neural style transfer for edge boards: optimization, trained and arbitrary-style networks
Version: $(NST_VERSION)
Requires.private: libpng libjpeg
Libs: -L$${libdir} -lnst
Libs.private: $(filter -lXNNPACK,$(LDLIBS)) -lpthreadpool -lm -pthread
Cflags: -I$${includedir}
endef

NST_WEIGHTS_BUILT = $(wildcard $(BUILD)/vgg19.nstw $(BUILD)/vgg19-distilled.nstw)
NST_STYLES_BUILT = $(wildcard $(BUILD)/styles/*.nstw)
NST_DOCS := LICENSE weights/CREDITS.md CHANGELOG.md

install: all
	@[ -n "$(NST_WEIGHTS_BUILT)" ] || echo "install: warning: no $(BUILD)/vgg19.nstw (make weights): the optimization will need --weights" >&2
	@[ -n "$(NST_STYLES_BUILT)" ] || echo "install: warning: no $(BUILD)/styles/*.nstw (make weights): nst --model NAME will not find them" >&2
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(NSTDATADIR)/styles $(DESTDIR)$(DOCDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) \
	    $(DESTDIR)$(PYTHONDIR)
	install -m 755 $(BUILD)/nst $(DESTDIR)$(BINDIR)/nst
	install -m 644 $(BUILD)/libnst.a $(DESTDIR)$(LIBDIR)/libnst.a
	install -m 755 $(BUILD)/libnst.so.$(NST_VERSION) $(DESTDIR)$(LIBDIR)/libnst.so.$(NST_VERSION)
	ln -sf libnst.so.$(NST_VERSION) $(DESTDIR)$(LIBDIR)/libnst.so.$(SOVERSION)
	ln -sf libnst.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libnst.so
	$(file >$(BUILD)/nst.pc,$(NST_PC))
	install -m 644 $(BUILD)/nst.pc $(DESTDIR)$(PKGCONFIGDIR)/nst.pc
	install -m 644 include/nst.h $(DESTDIR)$(INCLUDEDIR)/nst.h
	$(if $(NST_WEIGHTS_BUILT),install -m 644 $(NST_WEIGHTS_BUILT) $(DESTDIR)$(NSTDATADIR)/)
	$(if $(NST_STYLES_BUILT),install -m 644 $(NST_STYLES_BUILT) $(DESTDIR)$(NSTDATADIR)/styles/)
	install -m 644 $(NST_DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 644 doc/nst.1 $(DESTDIR)$(MANDIR)/man1/nst.1
	install -m 644 doc/nst.bash-completion $(DESTDIR)$(BASHCOMPDIR)/nst
	install -m 644 python/nst.py $(DESTDIR)$(PYTHONDIR)/nst.py
	@case "$(PYTHONDIR)" in /usr/lib/python3/dist-packages | /usr/local/lib/python3*/dist-packages) ;; \
	  *) echo "install: the Python module is in $(PYTHONDIR): PYTHONPATH=$(PYTHONDIR) python3 -c 'import nst'" ;; esac
	@# A library in a system directory is found by its soname once the cache knows it.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

# Every file install writes (whichever networks are installed there, also from an earlier install),
# then the folders that are nst's own.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/nst $(DESTDIR)$(LIBDIR)/libnst.a $(DESTDIR)$(LIBDIR)/libnst.so.$(NST_VERSION) \
	    $(DESTDIR)$(LIBDIR)/libnst.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libnst.so $(DESTDIR)$(PKGCONFIGDIR)/nst.pc \
	    $(DESTDIR)$(INCLUDEDIR)/nst.h $(DESTDIR)$(MANDIR)/man1/nst.1 $(DESTDIR)$(BASHCOMPDIR)/nst \
	    $(DESTDIR)$(PYTHONDIR)/nst.py $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(NST_DOCS))) \
	    $(DESTDIR)$(NSTDATADIR)/vgg19.nstw $(DESTDIR)$(NSTDATADIR)/vgg19-distilled.nstw \
	    $(DESTDIR)$(NSTDATADIR)/styles/*.nstw
	rm -f $(DESTDIR)$(PYTHONDIR)/__pycache__/nst.*.pyc
	for d in $(DESTDIR)$(PYTHONDIR)/__pycache__ $(DESTDIR)$(NSTDATADIR)/styles $(DESTDIR)$(NSTDATADIR) $(DESTDIR)$(DOCDIR); do \
	  if [ -d $$d ]; then rmdir $$d 2>/dev/null || echo "uninstall: $$d is not empty: left as it is" >&2; fi; done
