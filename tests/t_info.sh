#!/usr/bin/env bash
# nst info (issue 17): with no file, the machine (version, kernels, XNNPACK, fp16, threads) and the
# networks nst finds, folder by folder in its search order; with a model name, that network.
set -uo pipefail
name=t_info
. "$(dirname "$0")/lib.sh"
unset NST_WEIGHTS NST_STYLES
need "$BUILD/styles/candy.nstw" "$BUILD/styles/arbitrary.nstw"
out=$($NST info 2>&1); rc=$?
[ $rc -eq 0 ] && ok "nst info exits 0" || bad "nst info: exit $rc: $out"
for line in "^nst [0-9.]* \\(commit " "^kernels:  compiled in: .*; chosen here: " "^xnnpack:  built in: " "^fp16:     " "^threads:  [0-9]+ usable here"; do
	grep -qE "$line" <<<"$out" && ok "nst info: $(grep -m1 -E "$line" <<<"$out")" || bad "nst info has no line '$line'"
done
# the memory nst plans against: ulimit -v lowers it (not under qemu or ASan, which reserve more
# address space than such a limit leaves)
mem=$(sed -n 's/^memory:   \([0-9]*\) MiB available here.*/\1/p' <<<"$out")
[ -n "$mem" ] && [ "$mem" -gt 0 ] && ok "nst info: $mem MiB available" || bad "nst info's memory line: $(grep '^memory' <<<"$out")"
if [ -z "$EMU" ] && ! grep -qa -m1 __asan_init "$BUILD/nst"; then
	low=$( (ulimit -v 409600 && $NST info) 2>&1 | sed -n 's/^memory:   \([0-9]*\) MiB available here.*/\1/p')
	[ -n "$low" ] && [ "$low" -gt 0 ] && [ "$low" -lt 400 ] && ok "under ulimit -v 400 MiB: $low MiB available" ||
		bad "under ulimit -v 400 MiB, nst info says '$low' MiB available"
fi
bin=$(cd "$BUILD" && pwd)
grep -qE "^optimization weights .*: $bin/vgg19(-distilled)?\.nstw$" <<<"$out" && ok "the default weights and where" ||
	bad "nst info's weights line: $(grep '^optimization' <<<"$out")"
grep -qx "  $bin/styles: .*arbitrary candy.*" <<<"$out" && ok "the styles beside the binary, arbitrary included" ||
	bad "nst info lists no $bin/styles with arbitrary and candy: $out"
grep -q "(no such folder)" <<<"$out" && ok "folders searched but missing are named" || bad "nst info names no missing folder"
# $NST_STYLES is searched second, and nst info shows it.
mkdir -p "$tmp/mine" && cp "$BUILD/styles/candy.nstw" "$tmp/mine/mystyle.nstw"
NST_STYLES=$tmp/mine $NST info | grep -qx "  $tmp/mine: mystyle" && ok "\$NST_STYLES listed" || bad "\$NST_STYLES not listed"
NST_STYLES=$tmp/mine $NST info mystyle | grep >/dev/null "^file:     $tmp/mine/mystyle.nstw" && ok "nst info finds a model in \$NST_STYLES" ||
	bad "nst info mystyle with NST_STYLES"
for m in candy arbitrary vgg19; do
	$NST info $m 2>&1 | grep >/dev/null "^model:    $m " && ok "nst info $m" || bad "nst info $m: $($NST info $m 2>&1 | head -n 3)"
done
msg=$($NST info nosuchmodel 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "nosuchmodel: cannot open" <<<"$msg" && ok "nst info nosuchmodel: exit 1, $msg" || bad "nst info nosuchmodel: exit $rc: $msg"
$NST info a b >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok "nst info a b: usage (exit 2)" || bad "nst info a b: exit $rc"
$NST info --help | grep >/dev/null "^usage: nst info" && ok "nst info --help" || bad "nst info --help"
finish
