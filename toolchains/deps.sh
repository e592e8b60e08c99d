#!/usr/bin/env bash
# Installs the Debian packages that `make`, `make demo` and `make test` need, when missing.
#   toolchains/deps.sh build|test [TARGET]
# Works on Debian 12, Raspberry Pi OS (bookworm) and Ubuntu; uses sudo when not root.
set -euo pipefail
what=${1:-build}
target=${2:-native}

pkgs=(make gcc libc6-dev libpthreadpool-dev libstb-dev python3 python3-numpy)
if [ "$what" = test ]; then
	# The references in ../shared/reference and the converter's HDF5 reader.
	pkgs+=(python3-torch python3-pil python3-h5py)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
