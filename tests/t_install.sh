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
#  - the installed man page renders; `make uninstall` leaves no file behind; `make dist` ships the
#    styles, LICENSE and the credits.
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
"${mk[@]}" -n install PREFIX=/usr DESTDIR="$tmp/never" >"$tmp/n.txt" 2>&1
grep -q -- "-DNST_DATADIR='\"/usr/share/nst\"'.*src/cli/find.c" "$tmp/n.txt" &&
	ok "make install PREFIX=/usr recompiles the CLI's data directory as /usr/share/nst" ||
	bad "make -n install PREFIX=/usr does not recompile src/cli/find.c with /usr/share/nst: $(grep find.c "$tmp/n.txt" | head -n 1)"

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
grep -E '^[a-z].*[^a-z0-9_]nst_[a-z0-9_]+\(' include/nst.h | sed -E 's/^[^(]*[^a-z0-9_](nst_[a-z0-9_]+)\(.*/\1/' | sort -u >"$tmp/api.txt"
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
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror examples/stylize.c $flags -o "$tmp/stylize" 2>"$tmp/cc.txt" && ok "examples/stylize.c builds with pkg-config" ||
	bad "examples/stylize.c does not build: $(head -n 3 "$tmp/cc.txt")"
unset PKG_CONFIG_SYSROOT_DIR
export LD_LIBRARY_PATH=$D$P/lib
ldd "$tmp/stylize" | grep -q "libnst.so.$SO => $D$P/lib/" && ok "the example runs on the installed libnst.so.$SO" || bad "ldd: $(ldd "$tmp/stylize" | grep nst)"
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
"$inst" info candy | grep -q "^model:    candy" && ok "installed nst info candy" || bad "installed nst info candy"
cd "$ROOT" || die "cd $ROOT"

# Python (installed, from /usr/bin/python3) against the installed CLI: the same pixels.
"$inst" --model arbitrary -c "$C" -s "$S" -o "$tmp/cli-any.png" --threads 2 -q
"$inst" --model candy -c "$C" -o "$tmp/cli-candy.png" --threads 2 -q
"$inst" -c "$C" -s "$S" -o "$tmp/cli-opt.png" --weights "$D$P/share/nst/vgg19.nstw" --size 32 -n 5 --threads 2 -q
PYTHONPATH=$D$pydir /usr/bin/python3 - "$tmp" "$C" "$S" "$D$P" >"$tmp/py.txt" 2>&1 <<'EOF'
import sys, os
t, c, s, prefix = sys.argv[1:]
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
try:
    nst.stylize(photo, painting, model=c)
except nst.Error as e:
    print("error", e.status_name, "|", e.message)
EOF
for r in candy any opt; do
	grep -q "^same $r" "$tmp/py.txt" && ok "Python = CLI, pixel for pixel: $(grep "^same $r" "$tmp/py.txt")" ||
		bad "Python vs CLI ($r): $(grep " $r " "$tmp/py.txt" || tail -n 3 "$tmp/py.txt")"
done
grep -q "^module $D$P" "$tmp/py.txt" && grep -q "library $D$P/lib/libnst.so.$SO" "$tmp/py.txt" && ok "Python: the installed module on the installed library" ||
	bad "Python's module / library: $(head -n 1 "$tmp/py.txt")"
grep -q "^kinds Image True tuple True" "$tmp/py.txt" && ok "Python: PIL in, PIL out; bytes in, bytes out (the same pixels)" ||
	bad "Python's picture kinds: $(grep -E '^kinds|Error' "$tmp/py.txt" | head -n 2)"
grep -qE "^progress rows [1-9]" "$tmp/py.txt" && ok "Python progress: $(grep '^progress' "$tmp/py.txt")" || bad "no progress rows from Python"
grep -q "^stopped interrupted | stopped by the progress callback" "$tmp/py.txt" && ok "Python stop: nst.Error $(grep '^stopped' "$tmp/py.txt")" ||
	bad "stopping from Python's callback: $(grep -E '^stopped|Error' "$tmp/py.txt" | head -n 2)"
grep -q "^error not a valid weights file | .*not a weights file" "$tmp/py.txt" && ok "Python: nst.Error carries the diagnostic" ||
	bad "Python's error: $(grep -E '^error|Error' "$tmp/py.txt" | head -n 2)"
unset LD_LIBRARY_PATH PKG_CONFIG_PATH

# The installed man page renders.
w=$(MANWIDTH=80 man --warnings -l "$D$P/share/man/man1/nst.1" 2>&1 >/dev/null)
[ -z "$w" ] && ok "man -l (installed nst.1) renders without warnings" || bad "man -l warns: $w"

# Uninstall: nothing left but folders.
"${mk[@]}" uninstall DESTDIR="$D" >"$tmp/uninstall.log" 2>&1 || bad "make uninstall failed: $(tail -n 3 "$tmp/uninstall.log")"
left=$(find "$D" -not -type d | sed "s|^$D||" | paste -sd' ')
[ -z "$left" ] && ok "make uninstall leaves no file" || bad "make uninstall left: $left"

# make dist: the program, the networks, the licences and credits, the man page.
"${mk[@]}" dist >"$tmp/dist.log" 2>&1 || bad "make dist failed: $(tail -n 3 "$tmp/dist.log")"
tarball=$(sed -n 's/^dist: wrote //p' "$tmp/dist.log")
if [ -f "$tarball" ]; then
	tar -tzf "$tarball" | sed 's|^[^/]*/||' >"$tmp/dist.txt"
	for f in nst vgg19.nstw styles/candy.nstw styles/arbitrary.nstw LICENSE CREDITS.md CHANGELOG.md nst.1 README; do
		grep -qx "$f" "$tmp/dist.txt" && ok "make dist ships $f" || bad "make dist does not ship $f"
	done
else
	bad "make dist wrote no tarball: $(tail -n 2 "$tmp/dist.log")"
fi
finish
