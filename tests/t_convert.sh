#!/usr/bin/env bash
# weights/convert.py and weights/fetch.sh end to end: synthetic Keras .h5 files (VGG16 layout,
# random values, real shapes), the shared TensorFlow.js VGG19 folder, a fast-style network, random
# networks, and the one-line errors of broken inputs.  Every value is compared exactly.
#   NST_SHARED=../shared PYTHON=/usr/bin/python3 bash tests/t_convert.sh
# shellcheck disable=SC2015  # `A && B || die` is meant: die unless both hold
set -euo pipefail
name=t_convert
. "$(dirname "$0")/lib.sh"
CONVERT=weights/convert.py
export PYTHONPATH=$ROOT/weights${PYTHONPATH:+:$PYTHONPATH}
export PYTHONDONTWRITEBYTECODE=1

# convert_error WHAT NEEDLE CMD...: CMD fails with exactly one line on stderr, "convert.py: ...NEEDLE..."
convert_error() {
	local what=$1 needle=$2 rc=0
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" -ne 0 ] || die "$what: exit status 0"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || { cat "$tmp/err" >&2; die "$what: stderr is not one line"; }
	grep -q '^convert.py: ' "$tmp/err" || die "$what: stderr does not start with convert.py: ($(cat "$tmp/err"))"
	grep -qF -- "$needle" "$tmp/err" || die "$what: stderr lacks '$needle': $(cat "$tmp/err")"
	ok "$what: $(cat "$tmp/err")"
}

# --- synthetic Keras files -----------------------------------------------------------------------
# full.h5: VGG16 blocks 1-3 (block 3 has 3 convs, so VGG16 is told by structure; the file name
# does not say); vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5: blocks 1-2 only (a partial
# network, told by its name).  Block 1 uses the old Keras dataset names (block1_conv1_W_1:0 in the
# layer's group), the others the newer nested ones (block2_conv1/kernel:0).
"$PYTHON" - "$tmp" <<'EOF'
import sys, h5py, numpy as np
tmp = sys.argv[1]
rng = np.random.default_rng(1)
def make(path, blocks):
    widths, convs, cin = [64, 128, 256], [2, 2, 3], 3
    names = ["input_1"]
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.4"
        f.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        for b in range(blocks):
            for c in range(convs[b]):
                ln = "block%d_conv%d" % (b + 1, c + 1)
                g = f.create_group(ln)
                k = rng.standard_normal((3, 3, cin, widths[b])).astype("<f4")
                bias = rng.standard_normal(widths[b]).astype("<f4")
                if b == 0:
                    wn = [ln + "_W_1:0", ln + "_b_1:0"]
                else:
                    wn = [ln + "/kernel:0", ln + "/bias:0"]
                g.create_dataset(wn[0], data=k)
                g.create_dataset(wn[1], data=bias)
                g.attrs["weight_names"] = np.array([w.encode() for w in wn])
                names.append(ln)
                cin = widths[b]
            pool = "block%d_pool" % (b + 1)
            f.create_group(pool).attrs["weight_names"] = np.array([], dtype="S1")
            names.append(pool)
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
make(tmp + "/full.h5", 3)
make(tmp + "/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", 2)
EOF
"$PYTHON" $CONVERT keras "$tmp/full.h5" "$tmp/full.nstw" >/dev/null
"$PYTHON" $CONVERT keras "$tmp/full.h5" "$tmp/full16.nstw" --fp16 >/dev/null
"$PYTHON" $CONVERT keras "$tmp/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" "$tmp/part.nstw" >/dev/null
"$PYTHON" - "$tmp" <<'EOF'
import sys, h5py, numpy as np, convert
tmp = sys.argv[1]
def h5_layers(path):
    out = []
    with h5py.File(path, "r") as f:
        for ln in [n.decode() for n in f.attrs["layer_names"]]:
            wn = [w.decode() for w in f[ln].attrs["weight_names"]]
            if wn:
                b, c = ln.replace("block", "").split("_conv")
                out.append(("conv%s_%s" % (b, c), f[ln][wn[0]][()], f[ln][wn[1]][()]))
    return out
for nstw, h5, fp16, n in (("full.nstw", "full.h5", False, 7), ("full16.nstw", "full.h5", True, 7),
                          ("part.nstw", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", False, 4)):
    header, layers = convert.read_nstw(tmp + "/" + nstw)
    ref = h5_layers(tmp + "/" + h5)[:n]
    assert header["model"] == "vgg16", header
    assert header["arch"] == convert.ARCH_VGG and header["dtype"] == (convert.DTYPE_F16 if fp16 else convert.DTYPE_F32)
    assert header["source"] == "keras:" + h5, header["source"]
    assert [l["name"] for l in layers] == [r[0] for r in ref] == convert.vgg_names("vgg16")[:n], [l["name"] for l in layers]
    for l, (name, k, b) in zip(layers, ref):
        assert (l["kernel_h"], l["kernel_w"], l["in_channels"], l["out_channels"], l["stride"], l["flags"]) == \
            (3, 3, k.shape[2], k.shape[3], 1, 0), (name, l)
        want = k.astype("<f2") if fp16 else k
        assert l["kernel_raw"].dtype == want.dtype and l["kernel_raw"].shape == want.shape
        assert np.array_equal(l["kernel_raw"].view(np.uint8), np.ascontiguousarray(want).view(np.uint8)), name
        assert np.array_equal(l["bias"].view(np.uint32), b.view(np.uint32)), name
        if fp16:   # float16 rounding: within half an ulp, and not all values exact
            assert np.all(np.abs(l["kernel"] - k) <= np.abs(k) * 2.0 ** -11 + 2.0 ** -25), name
            assert not np.array_equal(l["kernel"], k), name
    print("ok: %s: %d layers, every value exact%s" % (nstw, len(layers), " (float16 rounding)" if fp16 else ""))
EOF
ok "keras: synthetic VGG16 files round-trip"
"$PYTHON" $CONVERT info "$tmp/full.nstw" >"$tmp/info"
grep -q 'model vgg16, arch 1 (vgg), dtype 0 (float32)' "$tmp/info" || die "info: header line: $(head -1 "$tmp/info")"
grep -q 'checksum 0x[0-9a-f]\{8\} (verified)' "$tmp/info" || die "info: no verified checksum"
[ "$(grep -c '^[0-9]' "$tmp/info")" -eq 7 ] || die "info: not 7 layer rows"
grep -q '^6   conv3_3    3x3        256    256      1      1    no' "$tmp/info" || die "info: conv3_3 row (groups 1, stride 1): $(cat "$tmp/info")"
ok "info prints the header and 7 layers"
"$PYTHON" $CONVERT keras "$tmp/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" "$tmp/part19.nstw" --model vgg19 >/dev/null
"$PYTHON" -c "import convert,sys; h,_=convert.read_nstw(sys.argv[1]); assert h['model']=='vgg19', h" "$tmp/part19.nstw"
ok "keras: --model overrides the detection"

# --- the shared TensorFlow.js folder --------------------------------------------------------------
TFJS=$SHARED/weights/vgg19-imagenet-blocks1-3
if [ -d "$TFJS" ]; then
	"$PYTHON" $CONVERT tfjs "$TFJS" "$tmp/vgg19.nstw" >/dev/null 2>"$tmp/err"
	grep -q 'the network ends at conv3_4' "$tmp/err" || die "tfjs: no note about the missing shards"
	"$PYTHON" - "$tmp/vgg19.nstw" "$TFJS" <<'EOF'
import sys, numpy as np, convert
header, layers = convert.read_nstw(sys.argv[1])
assert header["model"] == "vgg19" and header["source"] == "tfjs:vgg19-imagenet-blocks1-3", header
assert [l["name"] for l in layers] == convert.vgg_names("vgg19")[:8]
shapes = convert.vgg_shapes("vgg19")
for g, l in enumerate(layers, 1):
    raw = np.fromfile("%s/group%d-shard1of1" % (sys.argv[2], g), "<u4")
    cin, cout = shapes[l["name"]]
    assert (l["in_channels"], l["out_channels"]) == (cin, cout)
    n = 9 * cin * cout
    assert raw.size == n + cout
    assert np.array_equal(l["kernel_raw"].reshape(-1).view("<u4"), raw[:n]), l["name"]   # HWIO, bit for bit
    assert np.array_equal(l["bias"].view("<u4"), raw[n:]), l["name"]
k = layers[0]["kernel"]
raw = np.fromfile(sys.argv[2] + "/group1-shard1of1", "<f4")
assert k[1, 2, 0, 5] == raw[((1 * 3 + 2) * 3 + 0) * 64 + 5]
assert np.allclose(layers[0]["bias"][:3], [0.7301776, 0.06493629, 0.03428847], rtol=0, atol=1e-7)
print("ok: tfjs: 8 layers, every value equals the shards' bytes")
EOF
	ok "tfjs: shared VGG19 blocks 1-3"
else
	echo "note: $TFJS absent: tfjs check of the shared folder skipped"
fi

# A VGG16 TensorFlow.js folder made here: block 3 listed with 3 convs in the topology, shards
# only for block 1 (the network ends at conv1_2).
"$PYTHON" - "$tmp" <<'EOF'
import sys, os, json, numpy as np
tmp = sys.argv[1]; d = tmp + "/tfjs16"; os.makedirs(d)
rng = np.random.default_rng(2)
layers = [("block%d_conv%d" % (b, c), cin, cout) for b, c, cin, cout in
          [(1, 1, 3, 64), (1, 2, 64, 64), (2, 1, 64, 128), (2, 2, 128, 128), (3, 1, 128, 256), (3, 2, 256, 256), (3, 3, 256, 256)]]
manifest = []
for g, (name, cin, cout) in enumerate(layers, 1):
    manifest.append({"paths": ["group%d-shard1of1" % g], "weights": [
        {"name": name + "/kernel", "shape": [3, 3, cin, cout], "dtype": "float32"},
        {"name": name + "/bias", "shape": [cout], "dtype": "float32"}]})
    if g <= 2:
        np.concatenate([rng.standard_normal(9 * cin * cout), rng.standard_normal(cout)]).astype("<f4").tofile(
            "%s/group%d-shard1of1" % (d, g))
topology = {"model_config": {"class_name": "Model", "config": {"name": "vgg16", "layers":
            [{"name": n, "class_name": "Conv2D"} for n, _, _ in layers]}}}
json.dump({"modelTopology": topology, "weightsManifest": manifest}, open(d + "/model.json", "w"))
EOF
"$PYTHON" $CONVERT tfjs "$tmp/tfjs16" "$tmp/tfjs16.nstw" --fp16 >/dev/null 2>&1
"$PYTHON" - "$tmp" <<'EOF'
import sys, numpy as np, convert
tmp = sys.argv[1]
h, layers = convert.read_nstw(tmp + "/tfjs16.nstw")
assert h["model"] == "vgg16" and h["dtype"] == convert.DTYPE_F16 and [l["name"] for l in layers] == ["conv1_1", "conv1_2"], h
raw = np.fromfile(tmp + "/tfjs16/group2-shard1of1", "<f4")
assert np.array_equal(layers[1]["kernel_raw"].reshape(-1), raw[:9 * 64 * 64].astype("<f2"))
assert np.array_equal(layers[1]["bias"], raw[9 * 64 * 64:])
EOF
ok "tfjs: VGG16 told by its topology, stops at the missing shards, --fp16 rounds as numpy does"

# --- a fast-style network ---------------------------------------------------------------------------
BIN=$SHARED/fast-styles/candy.bin
if [ -f "$BIN" ]; then
	"$PYTHON" $CONVERT fast "$BIN" "$tmp/candy.nstw" --name candy >/dev/null
	"$PYTHON" - "$BIN" "$tmp/candy.nstw" <<'EOF'
import sys, numpy as np, convert
data = open(sys.argv[1], "rb").read()
header, layers = convert.read_nstw(sys.argv[2])
assert header["model"] == "candy" and header["arch"] == convert.ARCH_TRANSFORMER and header["dtype"] == convert.DTYPE_F16
assert [l["name"] for l in layers] == ["conv%d" % i for i in range(1, 17)]
# Direct decode, independent of convert.py's: (out, in, k) per ARCHITECTURE.md's table
convs = [(32, 3, 9), (64, 32, 3), (128, 64, 3)] + [(128, 128, 3)] * 10 + [(64, 128, 3), (32, 64, 3), (3, 32, 9)]
off = 0
for i, ((o, c, k), l) in enumerate(zip(convs, layers)):
    assert int.from_bytes(data[off:off + 4], "little") == 0x01306B47, i
    off += 4
    w = np.frombuffer(data, "<u2", o * c * k * k, off).reshape(o, c, k, k); off += 2 * o * c * k * k
    assert (l["kernel_h"], l["kernel_w"], l["in_channels"], l["out_channels"]) == (k, k, c, o), l
    assert l["stride"] == (2 if i in (1, 2) else 1), l
    assert l["flags"] == (0 if i == 15 else convert.FLAG_NORM), l
    hwio = l["kernel_raw"].view("<u2")                      # [kh][kw][in][out], float16 bits
    assert np.array_equal(hwio, w.transpose(2, 3, 1, 0)), i
    assert hwio[k // 2, k - 1, c - 1, o - 1] == w[o - 1, c - 1, k // 2, k - 1]
    for name in ("bias", "gamma", "beta") if i < 15 else ("bias",):
        v = np.frombuffer(data, "<u4", o, off); off += 4 * o
        assert np.array_equal(l[name].view("<u4"), v), (i, name)
    assert ("gamma" in l) == (i < 15)
assert off == len(data)
print("ok: fast: 16 convs, float16 bits, biases and norms exact")
EOF
	ok "fast: candy.bin"
else
	echo "note: $BIN absent: fast-style check skipped"
fi

# --- random networks --------------------------------------------------------------------------------
"$PYTHON" $CONVERT random --arch vgg16 "$tmp/r16.nstw" >/dev/null
"$PYTHON" $CONVERT random --arch vgg16 --blocks 1 --seed 0 "$tmp/r16a.nstw" >/dev/null
"$PYTHON" $CONVERT random --arch vgg16 --blocks 1 --seed 0 "$tmp/r16b.nstw" >/dev/null
"$PYTHON" $CONVERT random --arch vgg16 --blocks 1 --seed 1 "$tmp/r16c.nstw" >/dev/null
"$PYTHON" $CONVERT random --arch vgg19 --blocks 2 --fp16 "$tmp/r19.nstw" >/dev/null
cmp -s "$tmp/r16a.nstw" "$tmp/r16b.nstw" || die "random: the same seed gave different files"
! cmp -s "$tmp/r16a.nstw" "$tmp/r16c.nstw" || die "random: different seeds gave the same file"
"$PYTHON" - "$tmp" <<'EOF'
import sys, numpy as np, convert
tmp = sys.argv[1]
h, layers = convert.read_nstw(tmp + "/r16.nstw")
names = [l["name"] for l in layers]
assert h["model"] == "vgg16" and len(layers) == 13, (h, names)
assert names == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
                 "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"], names
assert [(l["in_channels"], l["out_channels"]) for l in layers] == \
    [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
     (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
for l in layers:   # He initialisation: std sqrt(2 / fan_in)
    std = float(np.std(l["kernel"]))
    want = (2.0 / (9 * l["in_channels"])) ** 0.5
    assert abs(std / want - 1) < 0.1, (l["name"], std, want)
    assert np.any(l["bias"] != 0)
h, layers = convert.read_nstw(tmp + "/r19.nstw")
assert h["model"] == "vgg19" and h["dtype"] == convert.DTYPE_F16 and [l["name"] for l in layers] == \
    ["conv1_1", "conv1_2", "conv2_1", "conv2_2"]
EOF
ok "random: vgg16 has conv1_1..conv5_3 (13 layers), seeds are deterministic, --blocks and --fp16 work"

# --- the Python reader refuses what the C reader refuses; the writer pads the bias to 4 bytes -------
"$PYTHON" - "$tmp" <<'EOF'
import sys, struct, zlib, numpy as np, convert
tmp = sys.argv[1]
# 9 float16 values = 18 bytes: the bias starts at 20
k = np.arange(9, dtype="<f4").reshape(1, 1, 3, 3) / 8
data = convert.nstw_bytes("odd", "test", convert.ARCH_TRANSFORMER, convert.DTYPE_F16,
                          [convert.Layer("c1", k, np.array([1, 2, 3], "<f4"), 2, np.ones(3, "<f4"), np.zeros(3, "<f4"))])
open(tmp + "/odd.nstw", "wb").write(data)
h, (l,) = convert.read_nstw(tmp + "/odd.nstw")
assert l["bytes"] == 20 + 3 * 4 * 3 and l["stride"] == 2 and l["flags"] == 1, l
assert np.array_equal(l["kernel"], k) and list(l["bias"]) == [1, 2, 3] and list(l["gamma"]) == [1, 1, 1]
base = open(tmp + "/full.nstw", "rb").read()
L1 = convert.HEADER_BYTES + convert.LAYER_BYTES      # layer 1's entry
cases = [("version", 4, "<I", 4, "version 4"), ("n_layers", 12, "<I", 0, "0 layers"),
         ("dtype", 16, "<I", 5, "unknown dtype 5"), ("flags", L1 + 48, "<I", 4, "unknown flags 0x4"),
         ("out_channels", L1 + 40, "<I", 0x7fffffff, "out_channels 2147483647"),
         ("offset", L1 + 56, "<Q", 1 << 40, "outside"), ("name", L1, "8s", b"conv1_3\0", "not the next VGG layer"),
         ("in_channels", convert.HEADER_BYTES + 36, "<I", 4, "data bytes")]
for what, at, fmt, value, needle in cases:
    b = bytearray(base)
    struct.pack_into(fmt, b, at, value)
    struct.pack_into("<I", b, convert.CHECKSUM_OFFSET, 0)
    struct.pack_into("<I", b, convert.CHECKSUM_OFFSET, zlib.crc32(b))
    open(tmp + "/bad.nstw", "wb").write(b)
    try:
        convert.read_nstw(tmp + "/bad.nstw")
        raise SystemExit("read_nstw accepted a file with a bad " + what)
    except convert.NstwError as e:
        assert needle in str(e), (what, str(e))
b = bytearray(base); b[-1] ^= 1
open(tmp + "/bad.nstw", "wb").write(b)
try:
    convert.read_nstw(tmp + "/bad.nstw"); raise SystemExit("read_nstw accepted a flipped byte")
except convert.NstwError as e:
    assert "checksum mismatch" in str(e), str(e)
print("ok: python reader: %d corruptions refused" % (len(cases) + 1))
EOF
ok "python reader and writer"

# --- errors: one line, non-zero ---------------------------------------------------------------------
convert_error "missing folder" "no such folder" "$PYTHON" $CONVERT tfjs "$tmp/nowhere" "$tmp/x.nstw"
mkdir "$tmp/empty"
convert_error "folder without model.json" "model.json" "$PYTHON" $CONVERT tfjs "$tmp/empty" "$tmp/x.nstw"
cp -r "$tmp/tfjs16" "$tmp/tfjs16-noshard" && rm "$tmp/tfjs16-noshard/group1-shard1of1"
convert_error "tfjs without its first shard" "group1-shard1of1" "$PYTHON" $CONVERT tfjs "$tmp/tfjs16-noshard" "$tmp/x.nstw"
cp -r "$tmp/tfjs16" "$tmp/tfjs16-short" && truncate -s 1000 "$tmp/tfjs16-short/group2-shard1of1"
convert_error "tfjs with a short shard" "group 2" "$PYTHON" $CONVERT tfjs "$tmp/tfjs16-short" "$tmp/x.nstw"
echo '{"weightsManifest": [' >"$tmp/empty/model.json"
convert_error "tfjs with broken JSON" "not valid JSON" "$PYTHON" $CONVERT tfjs "$tmp/empty" "$tmp/x.nstw"
convert_error "missing .h5" "no such file" "$PYTHON" $CONVERT keras "$tmp/none.h5" "$tmp/x.nstw"
head -c 3000 "$tmp/full.h5" >"$tmp/truncated.h5"
convert_error "truncated .h5" "not a readable HDF5 file" "$PYTHON" $CONVERT keras "$tmp/truncated.h5" "$tmp/x.nstw"
head -c 5000 /dev/urandom >"$tmp/garbage.h5"
convert_error "garbage .h5" "not a readable HDF5 file" "$PYTHON" $CONVERT keras "$tmp/garbage.h5" "$tmp/x.nstw"
"$PYTHON" -c "import h5py,sys; h5py.File(sys.argv[1],'w').create_group('block1_conv1')" "$tmp/nolayers.h5"
convert_error ".h5 without layer_names" "layer_names" "$PYTHON" $CONVERT keras "$tmp/nolayers.h5" "$tmp/x.nstw"
"$PYTHON" - "$tmp" <<'EOF'
import sys, shutil, h5py, numpy as np
tmp = sys.argv[1]
shutil.copy(tmp + "/full.h5", tmp + "/badshape.h5")
with h5py.File(tmp + "/badshape.h5", "a") as f:
    g = f["block2_conv1"]
    del g["block2_conv1/kernel:0"]
    g.create_dataset("block2_conv1/kernel:0", data=np.zeros((3, 3, 64, 100), "<f4"))
shutil.copy(tmp + "/full.h5", tmp + "/badname.h5")
with h5py.File(tmp + "/badname.h5", "a") as f:
    f["block2_conv1"].attrs["weight_names"] = np.array([b"block2_conv1/nothing:0", b"block2_conv1/bias:0"])
EOF
convert_error ".h5 with a wrong shape" "(3, 3, 64, 100)" "$PYTHON" $CONVERT keras "$tmp/badshape.h5" "$tmp/x.nstw"
convert_error ".h5 naming a missing dataset" "block2_conv1/nothing:0" "$PYTHON" $CONVERT keras "$tmp/badname.h5" "$tmp/x.nstw"
[ ! -e "$tmp/x.nstw" ] || die "a failed conversion left its output behind"
[ -z "$(find "$tmp" -maxdepth 1 -name '.*.tmp*')" ] || die "a temporary file was left behind"
if [ -f "$BIN" ]; then
	head -c 1000000 "$BIN" >"$tmp/short.bin"
	convert_error "short fast-style .bin" "3368140" "$PYTHON" $CONVERT fast "$tmp/short.bin" "$tmp/x.nstw"
	"$PYTHON" -c "
import sys; b = bytearray(open(sys.argv[1], 'rb').read()); b[0] ^= 1; open(sys.argv[2], 'wb').write(b)" "$BIN" "$tmp/badtag.bin"
	convert_error "fast-style .bin with a bad tag" "conv 1: tag" "$PYTHON" $CONVERT fast "$tmp/badtag.bin" "$tmp/x.nstw"
fi
convert_error "missing .bin" "no such file" "$PYTHON" $CONVERT fast "$tmp/none.bin" "$tmp/x.nstw"
cp "$tmp/full.nstw" "$tmp/flipped.nstw"
printf '\x55' | dd of="$tmp/flipped.nstw" bs=1 seek=5000 conv=notrunc status=none
convert_error "info on a corrupt file" "checksum mismatch" "$PYTHON" $CONVERT info "$tmp/flipped.nstw"
head -c 4000 "$tmp/full.nstw" >"$tmp/short.nstw"
convert_error "info on a truncated file" "truncated" "$PYTHON" $CONVERT info "$tmp/short.nstw"
convert_error "random --blocks 6" "--blocks" "$PYTHON" $CONVERT random --arch vgg16 --blocks 6 "$tmp/x.nstw"

# --- fetch.sh -----------------------------------------------------------------------------------------
rc=0
SHARED="$tmp/no-shared" NST_CACHE="$tmp/cache" NST_OFFLINE=1 PYTHON=$PYTHON weights/fetch.sh "$tmp/f1/vgg19.nstw" \
	2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || die "fetch.sh without any weights: exit status $rc"
grep -q '253f8cb515780f3b799900260a226db6' "$tmp/err" && grep -q "$tmp/cache/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5" "$tmp/err" ||
	die "fetch.sh without weights does not say what to download where: $(cat "$tmp/err")"
ok "fetch.sh offline without weights: exit 1 with download instructions"
mkdir -p "$tmp/cache" && head -c 100 /dev/urandom >"$tmp/cache/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
rc=0
SHARED="$tmp/no-shared" NST_CACHE="$tmp/cache" NST_OFFLINE=1 PYTHON=$PYTHON weights/fetch.sh "$tmp/f1/vgg19.nstw" \
	2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q 'has md5' "$tmp/err" || die "fetch.sh accepted a damaged Keras file: $(cat "$tmp/err")"
ok "fetch.sh refuses a cached Keras file with the wrong md5"
if [ -d "$TFJS" ] && [ -d "$SHARED/fast-styles" ]; then
	SHARED=$SHARED NST_CACHE="$tmp/cache" NST_OFFLINE=1 PYTHON=$PYTHON weights/fetch.sh "$tmp/f2/vgg19.nstw" >/dev/null 2>&1
	"$PYTHON" - "$tmp/f2/styles" <<'EOF'
import sys, convert
for s in ("candy", "mosaic", "pointilism", "rain_princess", "udnie"):
    h, layers = convert.read_nstw("%s/%s.nstw" % (sys.argv[1], s), with_values=False)
    assert h["model"] == s and h["arch"] == convert.ARCH_TRANSFORMER and len(layers) == 16, (s, h)
EOF
	cmp -s "$tmp/f2/vgg19.nstw" "$tmp/vgg19.nstw" || die "fetch.sh's vgg19.nstw differs from convert.py tfjs's"
	# inode too: convert.py replaces a file by a new one, so a rewrite changes it even within a second
	before=$(stat -c %i.%Y.%s "$tmp/f2/vgg19.nstw" "$tmp/f2/styles/"*.nstw)
	SHARED=$SHARED NST_CACHE="$tmp/cache" NST_OFFLINE=1 PYTHON=$PYTHON weights/fetch.sh "$tmp/f2/vgg19.nstw" 2>"$tmp/err"
	[ "$before" = "$(stat -c %i.%Y.%s "$tmp/f2/vgg19.nstw" "$tmp/f2/styles/"*.nstw)" ] || die "fetch.sh rewrote up-to-date files"
	grep -q 'up to date' "$tmp/err" || die "fetch.sh second run: $(cat "$tmp/err")"
	ok "fetch.sh converts the shared VGG19 and five styles, and a second run changes nothing"
	mkdir -p "$tmp/damaged/weights" && cp -r "$TFJS" "$tmp/damaged/weights/" && chmod -R u+w "$tmp/damaged"
	printf 'x' | dd of="$tmp/damaged/weights/vgg19-imagenet-blocks1-3/group3-shard1of1" bs=1 seek=100 conv=notrunc status=none
	rc=0
	SHARED="$tmp/damaged" NST_CACHE="$tmp/cache" NST_OFFLINE=1 PYTHON=$PYTHON weights/fetch.sh "$tmp/f3/vgg19.nstw" 2>"$tmp/err" || rc=$?
	[ "$rc" -eq 1 ] && grep -q 'group3-shard1of1: missing or sha256 mismatch' "$tmp/err" && [ ! -e "$tmp/f3/vgg19.nstw" ] ||
		die "fetch.sh converted a damaged shared folder: $(cat "$tmp/err")"
	ok "fetch.sh refuses a shared folder that does not match its SHA256SUMS"
fi

# --- the distilled VGG19: torch's own load is the oracle (torch only here, in the test) -------------
PTH=$SHARED/weights/vgg19-distilled-16x/encoder5_16x.pth
if [ -f "$PTH" ]; then
	"$PYTHON" $CONVERT distilled "$PTH" "$tmp/distilled.nstw" >/dev/null
	"$PYTHON" - "$PTH" "$tmp/distilled.nstw" <<'EOF'
import sys, numpy as np, torch, convert
sd = torch.load(sys.argv[1], map_location="cpu")["model"]
h, layers = convert.read_nstw(sys.argv[2])
by = {l["name"]: l for l in layers}
assert h["version"] == 2 and h["model"] == "vgg19-distilled" and len(layers) == 18, h
bits = lambda a: np.ascontiguousarray(a, "<f4").view("<u4")
blocks = [["11", "12"], ["21", "22"], ["31", "32", "33", "34"], ["41", "42", "43", "44"], ["51"]]
for b, block in enumerate(blocks):
    for c, key in enumerate(block):
        l = by["conv%d_%d" % (b + 1, c + 1)]
        assert l["flags"] == convert.FLAG_REFLECT and l["tap_of"] is None, l
        if key != "11":   # HWIO of torch's OIHW, to the bit
            assert np.array_equal(bits(l["kernel"]), bits(sd["conv%s.weight" % key].numpy().transpose(2, 3, 1, 0)))
            assert np.array_equal(bits(l["bias"]), bits(sd["conv%s.bias" % key].numpy()))
    t = by["tap%d_1" % (b + 1)]
    assert t["op"] == convert.OP_TAP and t["tap_of"] == "conv%d_1" % (b + 1) and t["kernel_h"] == 1, t
    assert np.array_equal(bits(t["kernel"]), bits(sd["conv%s_aux.weight" % block[0]].numpy().transpose(2, 3, 1, 0)))
    assert np.array_equal(bits(t["bias"]), bits(sd["conv%s_aux.bias" % block[0]].numpy()))
# conv1_1 with the input transform and conv0 folded in: torch's own pipeline, in float64, on a random
# picture (reflection padding commutes with the per-pixel affine maps), within float32 rounding.
import torch.nn.functional as F
d = lambda k: sd[k].double()
x = torch.randn(1, 3, 9, 7, dtype=torch.float64) * 60          # BGR - mean
mean = torch.tensor([103.939, 116.779, 123.68], dtype=torch.float64).view(1, 3, 1, 1)
y = F.conv2d(((x + mean) / 255.0).flip(1), d("conv0.weight"), d("conv0.bias"))
want = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="reflect"), d("conv11.weight"), d("conv11.bias"))
l = by["conv1_1"]
w = torch.from_numpy(l["kernel"].astype(np.float64)).permute(3, 2, 0, 1)
got = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), w, torch.from_numpy(l["bias"].astype(np.float64)))
err = float((got - want).abs().max() / want.abs().max())
assert err < 1e-6, err
assert h["defaults"] and h["defaults"].style == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"], h["defaults"]
print("distilled: every trunk and tap tensor equals torch.load's to the bit; folded conv1_1 within %.1e" % err)
EOF
	ok "distilled: converted without torch, equal to torch's own load"
else
	echo "note: $PTH absent: distilled check skipped"
fi

# --- the arbitrary-style network (MicroAST): torch's own load is the oracle; format version 3 --------
ARB=$SHARED/fast-styles/arbitrary
if [ -d "$ARB" ] && [ -f "$tmp/distilled.nstw" ]; then
	"$PYTHON" $CONVERT arbitrary "$ARB" "$tmp/arbitrary.nstw" >/dev/null
	"$PYTHON" - "$ARB" "$tmp/arbitrary.nstw" <<'EOF'
import sys, numpy as np, torch, convert
h, layers = convert.read_nstw(sys.argv[2])
assert h["version"] == 3 and h["arch"] == convert.ARCH_ARBITRARY and h["model"] == "arbitrary", h
assert len(layers) == 31 and h["defaults"] is None, (len(layers), h["defaults"])
bits = lambda a: np.ascontiguousarray(a, "<f4").view("<u4")
i = 0
for part, filename in convert.ARBITRARY_PARTS:
    sd = torch.load("%s/%s" % (sys.argv[1], filename), map_location="cpu")
    names = [k[:-len(".conv_layer.weight")] for k in sd if k.endswith(".weight")]
    for name in names:                                      # the file's order is the state dict's
        l, w = layers[i], sd[name + ".conv_layer.weight"].numpy()
        i += 1
        groups = l["in_channels"] // w.shape[1]             # torch: in / groups inputs per output
        assert l["name"] == part + "." + name and l["groups"] == groups, (l["name"], l["groups"], w.shape)
        assert l["flags"] == (convert.FLAG_REFLECT if w.shape[2] > 1 else 0), l
        assert np.array_equal(bits(l["kernel"]), bits(w.transpose(2, 3, 1, 0))), name
        assert np.array_equal(bits(l["bias"]), bits(sd[name + ".conv_layer.bias"].numpy())), name
assert i == 31
assert [l["groups"] for l in layers if l["groups"] > 1] == [16, 32, 16, 32, 64, 64, 64, 64, 32, 16]
print("arbitrary: 31 convolutions equal torch.load's to the bit, groups and padding as ARCHITECTURE.md says")
EOF
	ok "arbitrary: converted without torch, equal to torch's own load"
	# Damaged version-3 fields, each with a right checksum: both readers refuse them.
	"$PYTHON" - "$tmp" "$SHARED/fast-styles/candy.bin" <<'EOF'
import struct, sys, zlib, convert
tmp = sys.argv[1]
GROUPS, VERSION, INPUT = 52, 4, 68                        # byte offsets (FORMAT.md)
def save(name, d):
    struct.pack_into("<I", d, convert.CHECKSUM_OFFSET, 0)
    struct.pack_into("<I", d, convert.CHECKSUM_OFFSET, zlib.crc32(d) & 0xFFFFFFFF)
    open("%s/%s.nstw" % (tmp, name), "wb").write(d)
def changed(path, offset, value):
    d = bytearray(open(path, "rb").read())
    struct.pack_into("<I", d, offset, value)
    return d
arb, layer1 = tmp + "/arbitrary.nstw", convert.HEADER_BYTES + convert.LAYER_BYTES
save("groups3", changed(arb, layer1 + GROUPS, 3))          # 3 groups do not divide 16 inputs
save("groups0", changed(arb, layer1 + GROUPS, 0))          # version 3: at least 1
save("arch3v2", changed(arb, VERSION, 2))                  # the arbitrary arch needs version 3
save("input0", changed(arb, INPUT, convert.INPUT_CAFFE))   # arch 3 takes RGB / 255
convert.write_nstw(tmp + "/candy.nstw", "candy", "test", convert.ARCH_TRANSFORMER, convert.DTYPE_F16,
                   convert.decode_fast(sys.argv[2]))
save("reserved", changed(tmp + "/candy.nstw", convert.HEADER_BYTES + GROUPS, 1))  # version 2: reserved, 0
vgg = bytearray(open(tmp + "/distilled.nstw", "rb").read())    # as version 3, layer 1 (a tap) in 2 groups
struct.pack_into("<I", vgg, VERSION, 3)
for i in range(struct.unpack_from("<I", vgg, 12)[0]):
    struct.pack_into("<I", vgg, convert.HEADER_BYTES + i * convert.LAYER_BYTES + GROUPS, 2 if i == 1 else 1)
save("vgggroups", vgg)
EOF
	for case in "groups3:3 groups do not divide 16 inputs" "groups0:0 groups do not divide" "arch3v2:unknown arch 3" \
		"input0:input convention 0; arch 3" "reserved:a reserved field (groups, from version 3) is 1" \
		"vgggroups:only the arbitrary-style network's convolutions are grouped"; do
		bad=${case%%:*} needle=${case#*:}
		rc=0
		"$PYTHON" $CONVERT info "$tmp/$bad.nstw" >/dev/null 2>"$tmp/err" || rc=$?
		[ "$rc" -ne 0 ] || die "convert.py info accepted $bad.nstw"
		rc=0
		$NST info "$tmp/$bad.nstw" >/dev/null 2>"$tmp/err" || rc=$?
		[ "$rc" -ne 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF "$needle" "$tmp/err" ||
			die "nst info on $bad.nstw: exit $rc, $(cat "$tmp/err") (expected '$needle')"
		ok "$bad.nstw refused by both readers: $(cat "$tmp/err")"
	done
	$NST info "$tmp/arbitrary.nstw" >"$tmp/out" || die "nst info cannot read the arbitrary-style network"
	grep -q "content.enc1.2" "$tmp/out" || die "nst info does not list content.enc1.2: $(cat "$tmp/out")"
	ok "nst info reads the version-3 file"
	# The restricted unpickler guards this converter too: a part naming posix.system is refused unrun.
	mkdir -p "$tmp/evil-arb" && cp "$ARB"/*.pth.tar "$tmp/evil-arb/" && chmod u+w "$tmp/evil-arb"/*
	"$PYTHON" - "$tmp" <<'EOF'
import sys, pickle
tmp = sys.argv[1]
command = ("touch " + tmp + "/pwned").encode()
head = b"".join(pickle.dumps(v, protocol=2) for v in (0x1950a86a20f9469cfc6c, 1001, {"little_endian": True}))
call = b"\x80\x02cposix\nsystem\nX" + len(command).to_bytes(4, "little") + command + b"\x85R."
open(tmp + "/evil-arb/modulator_iter_160000.pth.tar", "wb").write(head + call + pickle.dumps([], protocol=2))
EOF
	convert_error "an arbitrary-style part naming posix.system" "refused: the pickle names posix.system" \
		"$PYTHON" $CONVERT arbitrary "$tmp/evil-arb" "$tmp/evil-arb.nstw"
	[ ! -e "$tmp/pwned" ] && [ ! -e "$tmp/evil-arb.nstw" ] || die "the evil modulator ran or left an output"
else
	echo "note: $ARB or the distilled VGG19 absent: arbitrary-style checks skipped"
fi

# --- the restricted unpickler refuses any other global without running it -------------------------
# evil.pth: the legacy layout (magic, protocol version, system information), then an object that is a
# call of the global with an argument that would create the marker file.
for global in "posix system" "os system" "builtins eval" "subprocess call" "collections Counter"; do
	"$PYTHON" - "$tmp" "$global" <<'EOF'
import sys, pickle
tmp, (module, name) = sys.argv[1], sys.argv[2].split()
marker = tmp + "/pwned"
arg = {"system": "touch " + marker, "call": ["touch", marker]}.get(name, "open(%r, 'w')" % marker)
head = b"".join(pickle.dumps(v, protocol=2) for v in (0x1950a86a20f9469cfc6c, 1001, {"little_endian": True}))
call = b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n" + pickle.dumps((arg,), protocol=2)[2:-1] + b"R."
open(tmp + "/evil.pth", "wb").write(head + call + pickle.dumps([], protocol=2))
EOF
	convert_error "a .pth naming $global" "refused: the pickle names ${global/ /.}" "$PYTHON" $CONVERT distilled "$tmp/evil.pth" "$tmp/evil.nstw"
	[ ! -e "$tmp/pwned" ] || die "the pickle naming $global ran"
	[ ! -e "$tmp/evil.nstw" ] || die "a refused .pth left an output"
done
# The last file through plain pickle.load (a test that can fail): posix.system would have run.
"$PYTHON" - "$tmp" <<'EOF'
import sys, pickle
tmp = sys.argv[1]
marker = tmp + "/pwned"
data = b"\x80\x02cposix\nsystem\nX" + len("touch " + marker).to_bytes(4, "little") + ("touch " + marker).encode() + b"\x85R."
pickle.loads(data)
EOF
[ -e "$tmp/pwned" ] || die "plain pickle.loads did not run posix.system: the refusal test above proves nothing"
ok "the restricted unpickler refuses posix/os.system, builtins.eval, subprocess.call and other names; plain pickle runs them"

finish
