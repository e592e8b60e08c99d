# What weights/fetch.sh and weights/fetch-images.sh share (sourced, not run): messages, checksums
# and downloads.  NST_OFFLINE=1: never download.

say() { echo "$(basename "$0"): $*" >&2; }

sum_of() { # sha256|md5 FILE (GNU coreutils, or the BSD / macOS tools)
	if command -v "$1sum" >/dev/null; then
		"$1sum" "$2" | cut -d' ' -f1
	elif [ "$1" = sha256 ]; then
		shasum -a 256 "$2" | cut -d' ' -f1
	else
		md5 -q "$2"
	fi
}

# download URL DEST: to DEST.part then renamed; false (and nothing left behind) on failure.
download() {
	local url=$1 dest=$2
	[ "${NST_OFFLINE:-0}" = 1 ] && return 1
	say "downloading $url"
	if command -v curl >/dev/null; then
		curl -fL --connect-timeout 10 --retry 1 -sS -o "$dest.part" "$url" 2>/dev/null || { rm -f "$dest.part"; return 1; }
	elif command -v wget >/dev/null; then
		wget -q --timeout=10 --tries=2 -O "$dest.part" "$url" || { rm -f "$dest.part"; return 1; }
	else
		return 1
	fi
	mv -f "$dest.part" "$dest"
}
