#!/usr/bin/env bash
# Builds the sysroot of a cross target from Debian's packages:
#   toolchains/sysroot.sh <debian-arch> <dir>        e.g. toolchains/sysroot.sh arm64 build/sysroot/arm64
#
# The sysroot holds only the libraries nst links besides the C library -- XNNPACK, pthreadpool,
# cpuinfo, stb, libjpeg-turbo, libpng and the zlib libpng needs, headers and shared objects -- as
# <dir>/usr/include (and <dir>/usr/include/<triplet>) and <dir>/usr/lib/<triplet>.
# The C library is the cross toolchain's own (/usr/<triplet>, from libc6-dev-<arch>-cross): nst is
# linked against it and qemu runs with -L /usr/<triplet>, so one glibc is used throughout.
#
# Nothing is installed on the host and the host's apt state is left alone: the packages are
# fetched by `apt-get download` through a private apt state under <dir>.apt/ that uses the
# host's sources but the target's architecture (no `dpkg --add-architecture`, no root needed),
# and unpacked with `dpkg -x`.  Installing libxnnpack-dev:arm64 on the host would remove the
# amd64 one, and a foreign architecture added to dpkg makes every later `apt-get update` on the
# host depend on that architecture's indices.
#
# Idempotent: <dir>/.stamp records what was unpacked; when it matches, the script exits at once.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 <debian-arch: arm64|armhf> <dir>" >&2
	exit 2
fi
arch=$1
dir=${2%/}
case "$arch" in
arm64) triplet=aarch64-linux-gnu ;;
armhf) triplet=arm-linux-gnueabihf ;;
*) echo "nst: sysroot.sh: unsupported architecture '$arch' (arm64 or armhf)" >&2; exit 2 ;;
esac

# Each -dev package and the package holding its shared library.
pkgs=(libxnnpack-dev libxnnpack0 libpthreadpool-dev libpthreadpool0 libcpuinfo-dev libcpuinfo0 libstb-dev libstb0
	libjpeg62-turbo-dev libjpeg62-turbo libpng-dev libpng16-16 zlib1g)
want="nst-sysroot 1 $arch ${pkgs[*]}"
stamp=$dir/.stamp

up_to_date() { [ -f "$stamp" ] && [ "$(head -n 1 "$stamp")" = "$want" ]; }
up_to_date && exit 0

for tool in apt-get dpkg-deb flock; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "nst: sysroot.sh needs $tool (a Debian or Ubuntu host): cannot build the $arch sysroot" >&2
		exit 1
	fi
done

mkdir -p "$(dirname "$dir")"
# One builder at a time per architecture (parallel makes of two targets share a sysroot).
exec 9>"$dir.lock"
flock 9
up_to_date && exit 0

echo "nst: building the $arch sysroot in $dir from Debian packages"
aptdir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir").apt
rm -rf "$aptdir"
mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/debs"
: >"$aptdir/status"
apt_=(apt-get -q
	-o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
	-o "Dir::State=$aptdir" -o "Dir::State::Lists=$aptdir/lists" -o "Dir::State::status=$aptdir/status"
	-o "Dir::Cache=$aptdir/cache" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)")

# An index that fails (a mirror mid-sync, a third-party source without this architecture) is
# not fatal: what matters is that every package below has a candidate, checked by the download.
if ! "${apt_[@]}" update >"$aptdir/update.log" 2>&1; then
	echo "nst: warning: apt-get update for $arch reported errors (see $aptdir/update.log); trying the download" >&2
fi
if ! (cd "$aptdir/debs" && "${apt_[@]}" download "${pkgs[@]}" >"$aptdir/download.log" 2>&1); then
	cat "$aptdir/download.log" >&2
	echo "nst: could not download the $arch packages: ${pkgs[*]}" >&2
	exit 1
fi

tmp=$dir.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
{
	echo "$want"
	for deb in "$aptdir"/debs/*.deb; do
		dpkg-deb -x "$deb" "$tmp"
		dpkg-deb -f "$deb" Package Version Architecture | tr '\n' ' '
		echo
	done
} >"$tmp/.stamp.new"
# zlib1g ships libz.so.1 in /lib/<triplet> (not merged into /usr here): beside the others, where
# the linker's -rpath-link, qemu's LD_LIBRARY_PATH and `make dist` look.
if [ -d "$tmp/lib/$triplet" ]; then
	mkdir -p "$tmp/usr/lib/$triplet"
	cp -a "$tmp/lib/$triplet/." "$tmp/usr/lib/$triplet/"
	rm -rf "$tmp/lib/$triplet"
fi
for h in xnnpack.h pthreadpool.h cpuinfo.h jpeglib.h png.h "$triplet/jconfig.h"; do
	[ -f "$tmp/usr/include/$h" ] || { echo "nst: sysroot.sh: $h missing from the unpacked packages" >&2; exit 1; }
done
for l in libXNNPACK.so libpthreadpool.so libcpuinfo.so libjpeg.so libpng.so libz.so.1; do
	[ -e "$tmp/usr/lib/$triplet/$l" ] || { echo "nst: sysroot.sh: $l missing from the unpacked packages" >&2; exit 1; }
done
rm -rf "$tmp/usr/share/doc" "$tmp/usr/share/lintian"
rm -rf "$dir"
mv "$tmp" "$dir"
mv "$dir/.stamp.new" "$stamp"
rm -rf "$aptdir" # the indices (~20 MB) are only needed to download again
echo "nst: $arch sysroot ready: $dir"
