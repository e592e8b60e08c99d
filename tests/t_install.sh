#!/usr/bin/env bash
# make install / make uninstall / make dist as a user and a packager meet them (issue 17):
#  - `make install DESTDIR=...` (PREFIX as built) puts every file where the GNU conventions say,
#    with nothing rebuilt; `make install PREFIX=/usr` after a plain `make` recompiles the data
#    directory the CLI names (checked with make -n);
#  - libnst.so.0: its SONAME, only the functions of include/nst.h exported (readelf);
#  - examples/stylize.c compiled with `pkg-config --cflags --libs nst` against the installed shared
#    library, and run;
#  - the Python module (installed) gives the CLI's pixels: a trained network, the arbitrary network,
#    and the optimization (5 iterations, same threads);
#  - the installed nst, from another folder with no flags, finds the VGG weights, the styles and
#    the arbitrary network inside the install;
#  - the installed man page renders and names the install's data directory; --version has the
#    copyright, licence and no-warranty lines; `make uninstall` removes what install wrote (from its
#    manifest, also after PYTHONDIR changed) and nothing else (a user's own network stays);
#    `make dist` ships the styles, LICENSE and the credits, its README naming the distilled network;
#  - the GNU directory variables (prefix, bindir, ...), install-strip; make -n writes nothing (nst.pc);
#  - pkg-config --cflags works without libpng.pc / libjpeg.pc (no Requires.private);
#  - Python loads no library from a folder relative to a source-tree copy of nst.py (a planted
#    lib/libnst.so.0 is not run), refuses a library of another major.minor, and finds a network by
#    name in the CLI's folders, in its order ($NST_STYLES first, as `nst info NAME`).
set -uo pipefail
name=t_install
. "$(dirname "$0")/lib.sh"
unset MAKEFLAGS MFLAGS MAKELEVEL NST_WEIGHTS NST_STYLES
need "$W" "$BUILD/styles/candy.nstw" "$BUILD/styles/arbitrary.nstw" "$BUILD/libnst.so"
[ -z "$EMU" ] || { echo "t_install: runs natively only (the installed programs run here)"; ok; finish; exit; }
for tool in pkg-config readelf man; do command -v $tool >/dev/null || die "$tool missing (make deps-test)"; done
mk=(make --no-print-directory BUILD="$BUILD")
SO=$(sed -n 's/^#define NST_VERSION_MAJOR \([0-9]*\)/\1/p' include/nst.h)

# The data directory follows the PREFIX given to make install, whatever was built before.
pc_before=$(cat "$BUILD/nst.pc" 2>/dev/null || echo none)
"${mk[@]}" -n install PREFIX=/usr DESTDIR="$tmp/never" >"$tmp/n.txt" 2>&1
grep -q -- "-DNST_DATADIR='\"/usr/share/nst\"'.*src/cli/find.c" "$tmp/n.txt" &&
	ok "make install PREFIX=/usr recompiles the CLI's data directory as /usr/share/nst" ||
	bad "make -n install PREFIX=/usr does not recompile src/cli/find.c with /usr/share/nst: $(grep find.c "$tmp/n.txt" | head -n 1)"

# make -n writes nothing: not build/nst.pc for the /usr asked (it is a rule, not a $(file) at expansion).
[ "$(cat "$BUILD/nst.pc" 2>/dev/null || echo none)" = "$pc_before" ] && ok "make -n install leaves $BUILD/nst.pc as it was" ||
	bad "make -n install PREFIX=/usr wrote $BUILD/nst.pc: $(grep '^prefix' "$BUILD/nst.pc")"
[ ! -e "$tmp/never" ] && ok "make -n install creates nothing" || bad "make -n install created $tmp/never"
# The GNU conventions' lowercase directory variables, and install-strip.
"${mk[@]}" -n install prefix=/opt/gnu bindir=/opt/gnubin DESTDIR="$tmp/never" >"$tmp/n2.txt" 2>&1
grep -q -- "-DNST_DATADIR='\"/opt/gnu/share/nst\"'" "$tmp/n2.txt" && grep -q " $tmp/never/opt/gnubin/nst\$" "$tmp/n2.txt" &&
	grep -q "$tmp/never/opt/gnu/lib/libnst.a" "$tmp/n2.txt" && ok "make install prefix=... bindir=... (the GNU names)" ||
	bad "make -n install prefix=/opt/gnu bindir=/opt/gnubin: $(grep -E 'DATADIR|/nst$' "$tmp/n2.txt" | head -n 2 | cut -c1-200)"
"${mk[@]}" -n install-strip DESTDIR="$tmp/never" INSTALL=install >"$tmp/n3.txt" 2>&1
grep -qE "^install -s --strip-program=[^ ]*strip $BUILD/nst " "$tmp/n3.txt" && ok "make install-strip strips the program" ||
	bad "make -n install-strip: $(grep "$BUILD/nst " "$tmp/n3.txt" | head -n 1)"

# A staged install with the PREFIX of the build (nothing to rebuild).
D=$tmp/stage
"${mk[@]}" install DESTDIR="$D" >"$tmp/install.log" 2>&1 || die "make install DESTDIR=$D failed: $(tail -n 5 "$tmp/install.log")"
# (but --version's commit: src/cli/version.o follows the work tree, which an edit since the build makes dirty)
compiled=$(grep -E '^cc .* -c ' "$tmp/install.log" | grep -v ' -c src/cli/version.c ' | head -n 1)
[ -n "$compiled" ] && bad "make install compiled something: $(cut -c1-160 <<<"$compiled")" || ok "make install after make compiles nothing"
P=$(cd "$D" && find . -path '*/bin/nst' | sed 's|^\./|/|; s|/bin/nst$||')
[ -n "$P" ] || die "no bin/nst under $D"
pydir=$(cd "$D" && find . -name nst.py | sed 's|^\.||; s|/nst.py$||')
for f in bin/nst lib/libnst.a lib/libnst.so "lib/libnst.so.$SO" include/nst.h lib/pkgconfig/nst.pc share/nst/vgg19.nstw \
	share/nst/styles/candy.nstw share/nst/styles/arbitrary.nstw share/doc/nst/LICENSE share/doc/nst/CREDITS.md \
	share/man/man1/nst.1 share/bash-completion/completions/nst; do
	[ -e "$D$P/$f" ] && ok "installed $P/$f" || bad "make install did not install $P/$f"
done
# Where Debian's python3 looks by itself (for /usr and /usr/local; other prefixes need PYTHONPATH).
if [ "$P" = /usr ] || [ "$P" = /usr/local ]; then
	/usr/bin/python3 -c 'import sys; sys.exit(sys.argv[1] not in sys.path)' "$pydir" &&
		ok "the Python module is in $pydir, on python3's path" || bad "the Python module is in $pydir, not on python3's sys.path"
else
	ok "the Python module is in $pydir (PYTHONPATH for prefix $P)"
fi
real=$(readlink -f "$D$P/lib/libnst.so")
[ "$(basename "$real")" = "libnst.so.$(sed -n 's/^#define NST_VERSION_STRING "\(.*\)"/\1/p' include/nst.h)" ] &&
	ok "libnst.so -> $(basename "$real")" || bad "libnst.so points to $real"

# The shared library: SONAME, exported symbols = the functions nst.h declares.
soname=$(readelf -d "$D$P/lib/libnst.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libnst.so.$SO" ] && ok "SONAME $soname" || bad "SONAME '$soname', not libnst.so.$SO"
readelf --dyn-syms -W "$D$P/lib/libnst.so" | awk '$1 ~ /^[0-9]+:$/ && NF >= 8 && $7 != "UND" && $5 != "LOCAL" {print $8}' |
	sed 's/@.*//' | grep -v '^NST_[0-9]*$' | sort -u >"$tmp/exported.txt"
# The header's functions as the compiler sees them (not the Makefile's regex, which made the list).
cc -std=c11 -fsyntax-only -aux-info "$tmp/aux.txt" -x c include/nst.h || bad "cc -aux-info include/nst.h failed"
grep '^/\* include/nst\.h:' "$tmp/aux.txt" | sed -E 's/^.*[ *](nst_[a-z0-9_]+) \(.*/\1/' | sort -u >"$tmp/api.txt"
[ "$(wc -l <"$tmp/api.txt")" -ge 50 ] && ok "nst.h declares $(wc -l <"$tmp/api.txt") functions (cc -aux-info)" ||
	bad "cc -aux-info found $(wc -l <"$tmp/api.txt") functions in nst.h"
others=$(grep -v '^nst_' "$tmp/exported.txt" | paste -sd' ')
[ -z "$others" ] && ok "only nst_ symbols exported ($(wc -l <"$tmp/exported.txt"))" || bad "exported symbols without the nst_ prefix: $others"
diff_out=$(diff "$tmp/api.txt" "$tmp/exported.txt" | grep '^[<>]' | paste -sd' ')
[ -z "$diff_out" ] && ok "the exported symbols are exactly nst.h's functions" || bad "exported vs nst.h (< only in nst.h, > only exported): $diff_out"

# The example, through pkg-config, against the installed shared library.
export PKG_CONFIG_PATH=$D$P/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
flags=$(pkg-config --cflags --libs nst) || bad "pkg-config --cflags --libs nst failed"
grep -q -- "-lnst" <<<"$flags" && ok "pkg-config: $flags" || bad "pkg-config gives no -lnst: $flags"
grep -q -- "-lpthreadpool" <<<"$(pkg-config --static --libs nst)" && ok "pkg-config --static adds the private libraries" ||
	bad "pkg-config --static --libs nst: $(pkg-config --static --libs nst)"
grep -q -- "-ljpeg -lpng" <<<"$(pkg-config --static --libs nst)" && ok "pkg-config --static names -ljpeg -lpng" ||
	bad "pkg-config --static --libs nst has no -ljpeg -lpng"
# Where libpng-dev / libjpeg-dev are missing (only nst.pc on the search path), --cflags still works.
PKG_CONFIG_LIBDIR=$D$P/lib/pkgconfig PKG_CONFIG_PATH= pkg-config --cflags nst >"$tmp/pc.txt" 2>&1 &&
	ok "pkg-config --cflags nst without libpng.pc / libjpeg.pc" || bad "pkg-config --cflags nst alone: $(head -n 2 "$tmp/pc.txt")"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror examples/stylize.c $flags -o "$tmp/stylize" 2>"$tmp/cc.txt" && ok "examples/stylize.c builds with pkg-config" ||
	bad "examples/stylize.c does not build: $(head -n 3 "$tmp/cc.txt")"
# libnst.a itself, as the README says (pkg-config --static alone still links libnst.so; pkg-config
# puts PKG_CONFIG_SYSROOT_DIR, the staged install, before the libdir variable too)
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror examples/stylize.c $(pkg-config --cflags nst) "$(pkg-config --variable=libdir nst)/libnst.a" \
	$(pkg-config --static --libs-only-l --libs-only-other nst | sed 's/-lnst //') -o "$tmp/stylize-static" 2>"$tmp/cc.txt" &&
	! ldd "$tmp/stylize-static" | grep -q libnst && ok "examples/stylize.c links libnst.a as the README says" ||
	bad "the README's static link: $(head -n 3 "$tmp/cc.txt") $(ldd "$tmp/stylize-static" 2>&1 | grep nst)"
unset PKG_CONFIG_SYSROOT_DIR
export LD_LIBRARY_PATH=$D$P/lib
ldd "$tmp/stylize" | grep >/dev/null "libnst.so.$SO => $D$P/lib/" && ok "the example runs on the installed libnst.so.$SO" || bad "ldd: $(ldd "$tmp/stylize" | grep nst)"
small_pictures
inst="$D$P/bin/nst"
"$tmp/stylize" trained "$D$P/share/nst/styles/candy.nstw" "$C" - "$tmp/ex.png" >"$tmp/ex.txt" 2>&1 &&
	[ -s "$tmp/ex.png" ] && ok "the example stylizes: $(tail -n 1 "$tmp/ex.txt")" || bad "the example failed: $(tail -n 2 "$tmp/ex.txt")"
"$tmp/stylize" arbitrary "$D$P/share/nst/styles/arbitrary.nstw" "$C" /nonexistent.png "$tmp/ex2.png" >"$tmp/ex.txt" 2>&1
[ $? -eq 1 ] && grep -q "cannot open" "$tmp/ex.txt" && ok "the example reports the library's diagnostic: $(tail -n 1 "$tmp/ex.txt")" ||
	bad "the example on a missing painting: $(tail -n 2 "$tmp/ex.txt")"

# The installed nst from another folder, no flags: the VGG weights, the styles, the arbitrary network.
cd "$tmp" || die "cd $tmp"
"$inst" info >"$tmp/info.txt" 2>&1
grep -q "^optimization weights.*: $D$P/bin/../share/nst/vgg19" "$tmp/info.txt" && ok "nst info: the installed weights are found" ||
	bad "nst info (installed) found other weights: $(grep '^optimization' "$tmp/info.txt")"
grep -q "^  $D$P/bin/../share/nst/styles: arbitrary candy" "$tmp/info.txt" && ok "nst info lists the installed styles" ||
	bad "nst info (installed): $(grep styles "$tmp/info.txt" | paste -sd'|')"
"$inst" -c "$C" -s "$S" -o "$tmp/opt.png" --size 64 -n 2 -q && [ -s "$tmp/opt.png" ] && ok "installed nst optimizes with its default weights" ||
	bad "installed nst -c -s (default weights) failed"
"$inst" --model candy -c "$C" -o "$tmp/candy.png" -q && ok "installed nst --model candy" || bad "installed nst --model candy failed"
"$inst" --model arbitrary -c "$C" -s "$S" -o "$tmp/any.png" -q && ok "installed nst --model arbitrary" || bad "installed nst --model arbitrary failed"
"$inst" info candy | grep >/dev/null "^model:    candy" && ok "installed nst info candy" || bad "installed nst info candy"
cd "$ROOT" || die "cd $ROOT"

# Python (installed, from /usr/bin/python3) against the installed CLI: the same pixels.
"$inst" --model arbitrary -c "$C" -s "$S" -o "$tmp/cli-any.png" --threads 2 -q
"$inst" --model candy -c "$C" -o "$tmp/cli-candy.png" --threads 2 -q
"$inst" -c "$C" -s "$S" -o "$tmp/cli-opt.png" --weights "$D$P/share/nst/vgg19.nstw" --size 32 -n 5 --threads 2 -q
# a painting 4 times the run's size or more, which the command line decodes reduced
"$inst" -c "$C" -s "$SHARED/images/starry_night.jpg" -o "$tmp/cli-big.png" --weights "$D$P/share/nst/vgg19.nstw" \
	--size 64 -n 3 --threads 2 -q
PYTHONPATH=$D$pydir /usr/bin/python3 - "$tmp" "$C" "$S" "$D$P" "$SHARED/images/starry_night.jpg" >"$tmp/py.txt" 2>&1 <<'EOF'
import sys, os
t, c, s, prefix, big = sys.argv[1:]
import nst
assert nst.__file__.startswith(prefix), nst.__file__
print("module", nst.__file__, "library", nst._lib._name)
photo, painting = nst.load(c), nst.load(s)
rows = []
runs = {"candy": dict(model="candy", threads=2), "any": dict(model="arbitrary", threads=2),
        "opt": dict(model="vgg19", size=32, iterations=5, threads=2, progress=rows.append)}
for name, kw in runs.items():
    out = nst.stylize(photo, None if name == "candy" else painting, **kw)
    cli = nst.load(os.path.join(t, "cli-%s.png" % name))
    same = out.shape == cli.shape and (out == cli).all()
    print("%s %s %s %s" % ("same" if same else "DIFFERENT", name, out.shape, cli.shape))
print("progress rows", len(rows))
# nst.load(size=) decodes as the command line does: the same pixels with a painting 16x the run's size
out = nst.stylize(nst.load(c, size=64), nst.load(big, size=64), model="vgg19", size=64, iterations=3, threads=2)
cli = nst.load(os.path.join(t, "cli-big.png"))
print("load-size", "same" if out.shape == cli.shape and (out == cli).all() else "DIFFERENT %d" % abs(out.astype(int) - cli).max())
print("any", nst.find_network("any") == nst.find_network("arbitrary"))
try:
    nst.load(c, kind="bogus")
except ValueError as e:
    print("kind refused |", e)
# The kind given is the kind returned: PIL in, PIL out; (bytes, w, h) in, the same out; same pixels.
from PIL import Image
want = nst.load(os.path.join(t, "cli-candy.png"))
pil = nst.stylize(Image.open(c), model="candy", threads=2)
raw = nst.stylize((bytes(photo.tobytes()), photo.shape[1], photo.shape[0]), model="candy", threads=2)
print("kinds", type(pil).__name__, pil.tobytes() == want.tobytes(), type(raw).__name__, raw[1:] == (photo.shape[1], photo.shape[0]) and raw[0] == want.tobytes())
try:
    nst.stylize(photo, painting, model="vgg19", size=32, iterations=50, progress=lambda p: p.iteration < 2)
except nst.Error as e:
    print("stopped", e.status_name, "|", e.message)
    print("partial", None if e.picture is None else e.picture.shape)
try:
    nst.stylize(photo, painting, model=c)
except nst.Error as e:
    print("error", e.status_name, "|", e.message)
# Ctrl-C stops the run at its next row (it went on to the end), the picture so far given; the
# progress's step counts iterations (never past iterations), iteration the rows.
import signal
seen = []
def ctrl_c(p):
    seen.append((p.step, p.iterations, p.iteration))
    if len(seen) == 3:
        os.kill(os.getpid(), signal.SIGINT)
try:
    nst.stylize(photo, painting, model="vgg19", size=32, iterations=50, progress=ctrl_c)
    print("ctrl-c ignored", len(seen))
except KeyboardInterrupt as e:
    print("ctrl-c stopped after", len(seen), "rows", None if e.picture is None else e.picture.shape,
          signal.getsignal(signal.SIGINT) is signal.default_int_handler)
steps = []
nst.stylize(photo, painting, model="vgg19", size=32, iterations=8,
            progress=lambda p: steps.append((p.step, p.iterations, p.iteration)))
print("steps", "ok" if all(0 <= s <= n for s, n, _ in steps) and steps[-1][0] >= 1 and
      [s for s, _, _ in steps] == sorted(s for s, _, _ in steps) else steps)
EOF
for r in candy any opt; do
	grep -q "^same $r" "$tmp/py.txt" && ok "Python = CLI, pixel for pixel: $(grep "^same $r" "$tmp/py.txt")" ||
		bad "Python vs CLI ($r): $(grep " $r " "$tmp/py.txt" || tail -n 3 "$tmp/py.txt")"
done
grep -q "^module $D$P" "$tmp/py.txt" && grep -q "library $D$P/lib/libnst.so.$SO" "$tmp/py.txt" && ok "Python: the installed module on the installed library" ||
	bad "Python's module / library: $(head -n 1 "$tmp/py.txt")"
grep -q "^kinds Image True tuple True" "$tmp/py.txt" && ok "Python: PIL in, PIL out; bytes in, bytes out (the same pixels)" ||
	bad "Python's picture kinds: $(grep -E '^kinds|Error' "$tmp/py.txt" | head -n 2)"
grep -q "^load-size same" "$tmp/py.txt" && ok "Python: nst.load(size=64) of a 1024 px painting gives the CLI's pixels" ||
	bad "Python nst.load(size=): $(grep -E '^load-size|Error' "$tmp/py.txt" | head -n 2)"
grep -q "^any True" "$tmp/py.txt" && grep -q "^kind refused | nst.load: kind is" "$tmp/py.txt" &&
	ok "Python: model 'any' is the arbitrary network; an unknown kind refused" ||
	bad "Python 'any' / kind: $(grep -E '^any|^kind|Error' "$tmp/py.txt" | head -n 2)"
grep -qE "^progress rows [1-9]" "$tmp/py.txt" && ok "Python progress: $(grep '^progress' "$tmp/py.txt")" || bad "no progress rows from Python"
grep -q "^stopped interrupted | stopped by the progress callback" "$tmp/py.txt" && ok "Python stop: nst.Error $(grep '^stopped' "$tmp/py.txt")" ||
	bad "stopping from Python's callback: $(grep -E '^stopped|Error' "$tmp/py.txt" | head -n 2)"
grep -q "^ctrl-c stopped after [34] rows (24, 32, 3) True" "$tmp/py.txt" &&
	ok "Python: Ctrl-C stops the run at the next row: $(grep '^ctrl-c' "$tmp/py.txt")" ||
	bad "Python's Ctrl-C: $(grep -E '^ctrl-c|Error|Interrupt' "$tmp/py.txt" | head -n 2)"
grep -q "^steps ok" "$tmp/py.txt" && ok "Python progress: step counts the iterations (never past them), iteration the rows" ||
	bad "Python progress steps: $(grep '^steps' "$tmp/py.txt")"
grep -q "^partial (24, 32, 3)" "$tmp/py.txt" && ok "Python stop: the picture so far in nst.Error's .picture" ||
	bad "Python stop's picture: $(grep -E '^partial|Error' "$tmp/py.txt" | head -n 2)"
grep -q "^error not a valid weights file | .*not a weights file" "$tmp/py.txt" && ok "Python: nst.Error carries the diagnostic" ||
	bad "Python's error: $(grep -E '^error|Error' "$tmp/py.txt" | head -n 2)"
unset LD_LIBRARY_PATH PKG_CONFIG_PATH

# $NST_STYLES first, for the CLI (the source tree's, whose build/styles holds a candy.nstw too) and
# for Python (the source tree's module and the installed one): the same file.
mkdir -p "$tmp/mine" && cp "$BUILD/styles/mosaic.nstw" "$tmp/mine/candy.nstw"
for which in tree installed; do
	if [ $which = tree ]; then prog=$BUILD/nst pypath=$ROOT/python; else prog=$inst pypath=$D$pydir; fi
	cli=$(NST_STYLES=$tmp/mine "$prog" info candy | sed -n 's/^file: *\([^ ]*\) .*/\1/p')
	py=$(NST_STYLES=$tmp/mine PYTHONPATH=$pypath /usr/bin/python3 -c 'import nst; print(nst.find_network("candy"))' 2>&1)
	[ "$cli" = "$tmp/mine/candy.nstw" ] && [ "$py" = "$cli" ] && ok "NST_STYLES first ($which): nst info candy and nst.find_network name $cli" ||
		bad "NST_STYLES=$tmp/mine ($which): nst info candy -> '$cli', nst.find_network -> '$py'"
done
NST_STYLES=$tmp/mine "$BUILD/nst" info | grep -A1 '^one-pass networks' | tail -n 1 | grep >/dev/null "^  $tmp/mine: candy" &&
	ok "nst info lists \$NST_STYLES first" || bad "nst info's first styles folder: $(NST_STYLES=$tmp/mine "$BUILD/nst" info | grep -A1 '^one-pass')"
# Python's folders are the CLI's, in its order (as nst info lists them; the installed module and nst).
(cd "$tmp" && NST_STYLES=$tmp/mine "$inst" info) | sed -n 's/^  \(\/[^:]*\):.*/\1/p' >"$tmp/cli-dirs.txt"
NST_STYLES=$tmp/mine PYTHONPATH=$D$pydir /usr/bin/python3 -c 'import nst; print("\n".join(nst._data_dirs(False) + nst._data_dirs(True)))' \
	>"$tmp/py-dirs.txt" 2>&1
cmp -s "$tmp/cli-dirs.txt" "$tmp/py-dirs.txt" && ok "Python searches nst info's folders, in its order ($(wc -l <"$tmp/cli-dirs.txt"))" ||
	bad "folders: nst info $(paste -sd' ' "$tmp/cli-dirs.txt") | Python $(paste -sd' ' "$tmp/py-dirs.txt")"

# Python and the library: a copy of nst.py outside a source tree (no ../include/nst.h) loads no
# lib/libnst.so.0 from the folders above it (a planted one would run its constructor); beside a
# source tree's include/nst.h it takes ../build's (the control: the plant runs); a library of
# another major.minor is refused; the module's version is nst.h's.
printf '%s\n' '#include <stdio.h>' \
	"__attribute__((constructor)) static void planted(void) { FILE *f = fopen(\"$tmp/planted-ran\", \"w\"); if (f) fclose(f); }" \
	'const char *nst_version_string(void) { return "9.9.0"; }' >"$tmp/plant.c"
cc -shared -fPIC "$tmp/plant.c" -o "$tmp/plant.so" || bad "cannot build the planted library"
mkdir -p "$tmp/p/lib" "$tmp/p/a/build" "$tmp/p/a/b" "$tmp/t/python" "$tmp/t/include" "$tmp/t/build"
for d in "$tmp/p/lib" "$tmp/p/a/build" "$tmp/t/build"; do cp "$tmp/plant.so" "$d/libnst.so.0"; done
cp python/nst.py "$tmp/p/a/b/nst.py"; cp python/nst.py "$tmp/t/python/nst.py"; cp include/nst.h "$tmp/t/include/"
(cd "$tmp" && env -u NST_LIBRARY -u LD_LIBRARY_PATH PYTHONPATH="$tmp/p/a/b" /usr/bin/python3 -c 'import nst' >"$tmp/plant.txt" 2>&1)
[ ! -e "$tmp/planted-ran" ] && ok "nst.py outside a source tree loads no lib/libnst.so.0 above it ($(tail -n 1 "$tmp/plant.txt" | cut -c1-90))" ||
	bad "nst.py (a copy in $tmp/p/a/b) ran the planted library of a folder above it"
rm -f "$tmp/planted-ran"
(cd "$tmp" && env -u NST_LIBRARY PYTHONPATH="$tmp/t/python" /usr/bin/python3 -c 'import nst' >"$tmp/plant2.txt" 2>&1)
[ -e "$tmp/planted-ran" ] && grep -q "9.9.0.*major.minor must match" "$tmp/plant2.txt" &&
	ok "beside include/nst.h, ../build's library is loaded, and refused: $(tail -n 1 "$tmp/plant2.txt" | cut -c1-110)" ||
	bad "a source tree's build/libnst.so.0 of version 9.9.0: $(tail -n 1 "$tmp/plant2.txt")"
NST_LIBRARY=$tmp/plant.so PYTHONPATH=$ROOT/python /usr/bin/python3 -c 'import nst' >"$tmp/plant3.txt" 2>&1
[ $? -ne 0 ] && grep -q "ImportError: nst: .*is nst 9.9.0; this module is for" "$tmp/plant3.txt" &&
	ok "NST_LIBRARY of another major.minor is refused" || bad "NST_LIBRARY=9.9.0 library: $(tail -n 1 "$tmp/plant3.txt")"
v=$(PYTHONPATH=$ROOT/python /usr/bin/python3 -c 'import nst; print(nst.__version__, nst._lib.nst_version_string().decode())' 2>&1)
want_v=$(sed -n 's/^#define NST_VERSION_STRING "\(.*\)"/\1/p' include/nst.h)
[ "$v" = "$want_v $want_v" ] && ok "nst.__version__ = nst_version_string() = nst.h's: $v" ||
	bad "versions (module, library) '$v', nst.h's $want_v"

# The installed man page renders.
w=$(MANWIDTH=80 man --warnings -l "$D$P/share/man/man1/nst.1" 2>&1 >/dev/null)
[ -z "$w" ] && ok "man -l (installed nst.1) renders without warnings" || bad "man -l warns: $w"
grep -q "^$P/share/nst in this install" "$D$P/share/man/man1/nst.1" && ! sed -n '/^.SH FILES/,$p' "$D$P/share/man/man1/nst.1" | grep >/dev/null "by default" &&
	ok "the installed man page names the install's data directory" || bad "the installed nst.1's FILES: $(grep -A2 'vgg19.nstw$' "$D$P/share/man/man1/nst.1" | paste -sd' ')"
"$inst" --version >"$tmp/version.txt"
grep -q "^Copyright (c) [0-9]* The nst authors.  License MIT" "$tmp/version.txt" && grep -q "NO WARRANTY" "$tmp/version.txt" &&
	ok "--version: copyright, licence, no warranty" || bad "--version lacks the copyright / licence / warranty lines: $(head -n 4 "$tmp/version.txt" | paste -sd'|')"

# Uninstall: only what install wrote (a user's own network in the styles folder stays), the Python
# module too when python3's version (so PYTHONDIR) changed since; nothing left but folders.
echo mine >"$D$P/share/nst/styles/mine.nstw"
"${mk[@]}" uninstall DESTDIR="$D" PYTHONDIR="$P/lib/python3.99/dist-packages" >"$tmp/uninstall.log" 2>&1 ||
	bad "make uninstall failed: $(tail -n 3 "$tmp/uninstall.log")"
left=$(find "$D" -not -type d | sed "s|^$D||" | paste -sd' ')
[ "$left" = "$P/share/nst/styles/mine.nstw" ] && ok "make uninstall removes what install wrote, keeps a user's own network" ||
	bad "make uninstall left: '$left' (want only $P/share/nst/styles/mine.nstw)"
rm -f "$D$P/share/nst/styles/mine.nstw"

# make dist: the program, the networks, the licences and credits, the man page.
"${mk[@]}" dist >"$tmp/dist.log" 2>&1 || bad "make dist failed: $(tail -n 3 "$tmp/dist.log")"
tarball=$(sed -n 's/^dist: wrote //p' "$tmp/dist.log")
if [ -f "$tarball" ]; then
	tar -tzf "$tarball" | sed 's|^[^/]*/||' >"$tmp/dist.txt"
	tar -xzOf "$tarball" --wildcards '*/README' | grep >/dev/null "^Weights: vgg19-distilled.nstw beside the binary is used by default (included here)" &&
		ok "the tarball's README: vgg19-distilled.nstw, shipped, is the default" ||
		bad "the tarball's README on the weights: $(tar -xzOf "$tarball" --wildcards '*/README' | grep -A1 '^Weights')"
	for f in nst vgg19.nstw styles/candy.nstw styles/arbitrary.nstw LICENSE CREDITS.md CHANGELOG.md nst.1 README; do
		grep -qx "$f" "$tmp/dist.txt" && ok "make dist ships $f" || bad "make dist does not ship $f"
	done
else
	bad "make dist wrote no tarball: $(tail -n 2 "$tmp/dist.log")"
fi
finish
