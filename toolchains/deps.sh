#!/usr/bin/env bash
# Installs the Debian packages that `make`, `make demo`, `make test` and `make compare` need, when missing.
#   toolchains/deps.sh build|test|compare|fuzz [TARGET]
# Works on Debian 12, Raspberry Pi OS (bookworm) and Ubuntu; uses sudo when not root.
# For a cross target (toolchains/<TARGET>.mk sets CROSS_ARCH) it also installs the cross compiler,
# the cross glibc and qemu-user, and builds the target's sysroot (toolchains/sysroot.sh: Debian's
# XNNPACK / pthreadpool / cpuinfo / stb / libjpeg-turbo / libpng / zlib packages for that
# architecture, unpacked under build/, never installed on the host).
set -euo pipefail
what=${1:-build}
target=${2:-native}
root=$(cd "$(dirname "$0")/.." && pwd)

cross_arch=
if [ "$target" != native ]; then
	mk=$root/toolchains/$target.mk
	[ -f "$mk" ] || { echo "nst: unknown TARGET '$target' (no toolchains/$target.mk)" >&2; exit 1; }
	cross_arch=$(sed -n 's/^CROSS_ARCH *:\?= *\([a-z0-9]*\).*/\1/p' "$mk")
fi

pkgs=(make gcc libc6-dev libpthreadpool-dev libxnnpack-dev libstb-dev libjpeg62-turbo-dev libpng-dev python3 python3-numpy)
if [ "$what" = test ] || [ "$what" = compare ]; then
	# The references in ../shared/reference and the converter's HDF5 reader.
	# valgrind for tests/t_valgrind.sh (skipped, with a message, where it is missing); GNU time for
	# the peak RSS tests/t_decode.sh measures; ffmpeg makes and reads the frame streams of tests/t_stream.sh.
	# pkg-config, man-db and groff-base for tests/t_install.sh and t_manpage.sh (the installed library
	# through pkg-config, the man page rendered).
	pkgs+=(python3-torch python3-pil python3-h5py valgrind time ffmpeg pkg-config man-db groff-base)
fi
if [ "$what" = compare ]; then
	# make compare's second one-pass peer: OpenCV's DNN module (what many Raspberry Pi tutorials run).
	pkgs+=(python3-opencv)
fi
if [ "$what" = fuzz ]; then
	# clang with libFuzzer's and the sanitizers' runtimes; PIL makes the seed pictures.
	pkgs+=(clang libclang-rt-dev python3-pil)
fi

case "$cross_arch" in
arm64) pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user) ;;
armhf) pkgs+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user) ;;
esac

sysroot() { # after the packages: the cross target's sysroot (quick when already built)
	[ -z "$cross_arch" ] || "$root/toolchains/sysroot.sh" "$cross_arch" "$root/build/sysroot/$cross_arch"
}

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	sysroot
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "nst: missing packages: ${missing[*]}; install them with your package manager" >&2
	exit 1
fi
sudo=
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then sudo=sudo; else
		echo "nst: missing packages: ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
		exit 1
	fi
fi
echo "nst: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
sysroot
