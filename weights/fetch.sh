#!/usr/bin/env bash
# Gets the networks the engine runs and writes them as .nstw files (weights/FORMAT.md):
#
#   SHARED=../shared PYTHON=/usr/bin/python3 weights/fetch.sh build/vgg19.nstw
#
# VGG19 -> OUT:
#   1. $SHARED/weights/vgg19-imagenet-blocks1-3 (TensorFlow.js, conv1_1..conv3_4), checked against
#      its SHA256SUMS; else
#   2. Keras's full vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 (conv1_1..conv5_4) from
#      ${NST_CACHE:-$HOME/.cache/nst}, downloaded there first if missing; md5 checked.
# The distilled VGG19 (relu1_1..relu5_1, 16x fewer weights) -> DIR_OF_OUT/vgg19-distilled.nstw
#   (optional, skipped with a notice when unavailable): $SHARED/weights/vgg19-distilled-16x/
#   encoder5_16x.pth, else downloaded into $NST_CACHE; sha256 checked; read without torch.
# Fast styles -> DIR_OF_OUT/styles/NAME.nstw (optional, skipped with a notice when unavailable):
#   the five networks of $SHARED/fast-styles, or downloaded into $NST_CACHE/fast-styles; sha256 checked.
# The arbitrary-style network (MicroAST, any painting) -> DIR_OF_OUT/styles/arbitrary.nstw (optional):
#   its four parts from $SHARED/fast-styles/arbitrary, or downloaded into $NST_CACHE/arbitrary;
#   sha256 checked; read without torch.
#
# NST_OFFLINE=1: never download (only $SHARED and the cache are used).
# Idempotent: an output newer than its inputs and than weights/convert.py is left as it is.
# Exits 1 (after saying what to download and where to put it) only if VGG19 cannot be had.
set -euo pipefail

OUT=${1:?usage: weights/fetch.sh OUT.nstw}
SHARED=${SHARED:-../shared}
PYTHON=${PYTHON:-/usr/bin/python3}
CACHE=${NST_CACHE:-${HOME:-/tmp}/.cache/nst}
HERE=$(cd "$(dirname "$0")" && pwd)
CONVERT=$HERE/convert.py

TFJS_DIR=$SHARED/weights/vgg19-imagenet-blocks1-3
KERAS_FILE=vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5
KERAS_MD5=253f8cb515780f3b799900260a226db6
KERAS_URLS=(
	"https://storage.googleapis.com/tensorflow/keras-applications/vgg19/$KERAS_FILE"
	"https://github.com/fchollet/deep-learning-models/releases/download/v0.1/$KERAS_FILE"
)
DISTILLED_FILE=encoder5_16x.pth
DISTILLED_SHA256=9417c34d0d8d621bc6af78be745f1b8d30f5f210efa01e50655c60eb3770816b
# From $SHARED/weights/vgg19-distilled-16x/SOURCE.md (the target of the repository's 5SE.pth symlink).
DISTILLED_URL=https://raw.githubusercontent.com/MingSun-Tse/Collaborative-Distillation/4a269dc90020721ef9b279b2926c62f5bcd6d209/trained_models/wct_se_16x_new/20191109-211322_E20.pth
STYLES_URL=https://raw.githubusercontent.com/nihui/ncnn-android-styletransfer/294843d35c9d73dae0f8b5a18674921e75579e22/app/src/main/assets
# From ../shared/fast-styles/ARCHITECTURE.md.
style_sha256() {
	case $1 in
	candy) echo 33cee36c21be4074eb580fdddebe19e02ffe572a2e302106d739796ea601161c ;;
	mosaic) echo b743d9de15069e384dcc95fd2efde910086933a476442efa745cac4b6c529b33 ;;
	pointilism) echo 631e78787b008e268b8f3758d00d79928c4e72134c9062b9a78382e1e407ecae ;;
	rain_princess) echo 63665e8116d4bab2dfc5a9f1d5d6a71c43055ff41349bbff1a4e865652c188df ;;
	udnie) echo 010006b6d1b7ec281cbe57024d22caad9b1dcf27eb6eef080d93495be306e66f ;;
	esac
}
STYLES=(candy mosaic pointilism rain_princess udnie)
# From ../shared/fast-styles/arbitrary/SOURCE.md and SHA256SUMS.
ARBITRARY_URL=https://raw.githubusercontent.com/EndyWon/MicroAST/5a6c9050d8c408191cb9db12c697f3e4c7ebe137/models
ARBITRARY_PARTS=(content_encoder_iter_160000.pth.tar style_encoder_iter_160000.pth.tar
	modulator_iter_160000.pth.tar decoder_iter_160000.pth.tar)
arbitrary_sha256() {
	case $1 in
	content_encoder_*) echo c8d895c0eec52507c157e102fab217c37f0c399ef3e168ef8b0b2677714660a4 ;;
	style_encoder_*) echo 94f6b3fa386828692c20809a0af8bd0eba9c04e90a7d8842086976e4d223c5af ;;
	modulator_*) echo 8588055baf7d5ad8398d595d5518c6f030e3ff8dbb6007a7c1779776e11da28b ;;
	decoder_*) echo 32e04a46b953fd9f94ec9e20f351511305a5260e000c18f9aef6570d5f1e23d9 ;;
	esac
}

# say, sum_of, download
. "$HERE/fetch-lib.sh"
die() { say "$*"; exit 1; }

# up_to_date OUT INPUT...: OUT exists and is newer than every input and than convert.py.
up_to_date() {
	local out=$1 f
	shift
	[ -s "$out" ] || return 1
	for f in "$CONVERT" "$@"; do
		[ "$out" -nt "$f" ] || return 1
	done
}

# check_sums FOLDER: every "HASH  FILE" line of FOLDER/SHA256SUMS matches.
check_sums() {
	local hash file
	[ -f "$1/SHA256SUMS" ] || return 1
	while read -r hash file; do
		[ -n "$hash" ] || continue
		if [ ! -f "$1/$file" ] || [ "$(sum_of sha256 "$1/$file")" != "$hash" ]; then
			say "$1/$file: missing or sha256 mismatch"
			return 1
		fi
	done <"$1/SHA256SUMS"
}

mkdir -p "$(dirname "$OUT")"

# --- VGG19 ---------------------------------------------------------------------------------------
if [ -d "$TFJS_DIR" ]; then
	inputs=("$TFJS_DIR"/model.json "$TFJS_DIR"/group*-shard*)
	if up_to_date "$OUT" "${inputs[@]}"; then
		say "$OUT is up to date"
	else
		check_sums "$TFJS_DIR" ||
			die "$TFJS_DIR does not match its SHA256SUMS: the shared weights are damaged"
		"$PYTHON" "$CONVERT" tfjs "$TFJS_DIR" "$OUT"
	fi
else
	keras=$CACHE/$KERAS_FILE
	if [ -f "$keras" ] && up_to_date "$OUT" "$keras"; then
		say "$OUT is up to date"
	else
		if [ ! -f "$keras" ]; then
			mkdir -p "$CACHE"
			for url in "${KERAS_URLS[@]}"; do
				if download "$url" "$keras.new"; then
					if [ "$(sum_of md5 "$keras.new")" = "$KERAS_MD5" ]; then
						mv -f "$keras.new" "$keras"
						break
					fi
					say "$url gave a file whose md5 is not $KERAS_MD5; discarded"
					rm -f "$keras.new"
				fi
			done
		fi
		if [ ! -f "$keras" ]; then
			say "no VGG19 weights: $TFJS_DIR is absent and $KERAS_FILE cannot be downloaded."
			say "Download $KERAS_FILE (80 MB) from"
			for url in "${KERAS_URLS[@]}"; do say "    $url"; done
			say "put it at $keras (or set NST_CACHE to the folder holding it),"
			say "check that its md5 is $KERAS_MD5 (md5sum), and run this again."
			exit 1
		fi
		got=$(sum_of md5 "$keras")
		[ "$got" = "$KERAS_MD5" ] ||
			die "$keras has md5 $got, not $KERAS_MD5: it is damaged or another file; delete it and run this again"
		"$PYTHON" "$CONVERT" keras "$keras" "$OUT"
	fi
fi

networks=("$OUT")

# --- the distilled VGG19 (optional) ----------------------------------------------------------------
DISTILLED_OUT=$(dirname "$OUT")/vgg19-distilled.nstw
pth=$SHARED/weights/vgg19-distilled-16x/$DISTILLED_FILE
[ -f "$pth" ] || pth=$CACHE/$DISTILLED_FILE
if [ ! -f "$pth" ]; then
	mkdir -p "$CACHE"
	if download "$DISTILLED_URL" "$pth.new"; then
		if [ "$(sum_of sha256 "$pth.new")" = "$DISTILLED_SHA256" ]; then
			mv -f "$pth.new" "$pth"
		else
			rm -f "$pth.new"
			say "note: the downloaded $DISTILLED_FILE does not have sha256 $DISTILLED_SHA256; discarded"
		fi
	fi
fi
if [ ! -f "$pth" ]; then
	say "note: the distilled VGG19 ($DISTILLED_FILE) is neither in $SHARED/weights/vgg19-distilled-16x nor downloadable; skipped (optional)"
elif up_to_date "$DISTILLED_OUT" "$pth" "$HERE/torch_legacy.py"; then
	networks+=("$DISTILLED_OUT")
else
	sum=$(sum_of sha256 "$pth")
	[ "$sum" = "$DISTILLED_SHA256" ] || die "$pth has sha256 $sum, not $DISTILLED_SHA256: damaged or another file"
	"$PYTHON" "$CONVERT" distilled "$pth" "$DISTILLED_OUT"
	networks+=("$DISTILLED_OUT")
fi

# --- fast styles (optional) ------------------------------------------------------------------------
STYLES_DIR=$(dirname "$OUT")/styles
mkdir -p "$STYLES_DIR"
for name in "${STYLES[@]}"; do
	want=$(style_sha256 "$name")
	out=$STYLES_DIR/$name.nstw
	bin=$SHARED/fast-styles/$name.bin
	if [ ! -f "$bin" ]; then
		bin=$CACHE/fast-styles/$name.bin
		if [ ! -f "$bin" ]; then
			mkdir -p "$CACHE/fast-styles"
			if ! download "$STYLES_URL/$name.bin" "$bin.new"; then
				say "note: fast style $name is neither in $SHARED/fast-styles nor downloadable; skipped (optional)"
				continue
			fi
			if [ "$(sum_of sha256 "$bin.new")" != "$want" ]; then
				rm -f "$bin.new"
				say "note: the downloaded $name.bin does not have sha256 $want; skipped"
				continue
			fi
			mv -f "$bin.new" "$bin"
		fi
	fi
	if up_to_date "$out" "$bin"; then
		continue
	fi
	got=$(sum_of sha256 "$bin")
	[ "$got" = "$want" ] || die "$bin has sha256 $got, not $want: damaged"
	"$PYTHON" "$CONVERT" fast "$bin" "$out" --name "$name"
done
for name in "${STYLES[@]}"; do
	if [ -s "$STYLES_DIR/$name.nstw" ]; then networks+=("$STYLES_DIR/$name.nstw"); fi
done

# --- the arbitrary-style network (optional) --------------------------------------------------------
# arbitrary_parts: the folder holding all four parts with their sha256 ($SHARED's, else the cache,
# downloading what is missing); fails (after a notice) when one cannot be had.
arbitrary_parts() {
	local dir=$SHARED/fast-styles/arbitrary part
	if [ ! -d "$dir" ]; then
		dir=$CACHE/arbitrary
		mkdir -p "$dir"
		for part in "${ARBITRARY_PARTS[@]}"; do
			[ -f "$dir/$part" ] && continue
			download "$ARBITRARY_URL/$part" "$dir/$part.new" || return 1
			if [ "$(sum_of sha256 "$dir/$part.new")" != "$(arbitrary_sha256 "$part")" ]; then
				rm -f "$dir/$part.new"
				say "note: the downloaded $part does not have sha256 $(arbitrary_sha256 "$part"); discarded"
				return 1
			fi
			mv -f "$dir/$part.new" "$dir/$part"
		done
	fi
	for part in "${ARBITRARY_PARTS[@]}"; do
		[ -f "$dir/$part" ] || return 1
		[ "$(sum_of sha256 "$dir/$part")" = "$(arbitrary_sha256 "$part")" ] ||
			die "$dir/$part has sha256 $(sum_of sha256 "$dir/$part"), not $(arbitrary_sha256 "$part"): damaged"
	done
	echo "$dir"
}
ARBITRARY_OUT=$STYLES_DIR/arbitrary.nstw
if ! parts=$(arbitrary_parts); then
	say "note: the arbitrary-style network (MicroAST) is neither in $SHARED/fast-styles/arbitrary nor downloadable; skipped (optional)"
else
	inputs=()
	for part in "${ARBITRARY_PARTS[@]}"; do inputs+=("$parts/$part"); done
	if ! up_to_date "$ARBITRARY_OUT" "${inputs[@]}" "$HERE/torch_legacy.py"; then
		"$PYTHON" "$CONVERT" arbitrary "$parts" "$ARBITRARY_OUT"
	fi
	networks+=("$ARBITRARY_OUT")
fi
say "networks: ${networks[*]}"
