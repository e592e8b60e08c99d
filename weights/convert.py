#!/usr/bin/python3
"""Converts convolution weights into the project's .nstw format (weights/FORMAT.md), and reads
.nstw files back.

Usage:
  convert.py tfjs FOLDER OUT.nstw [--fp16] [--model vgg19|vgg16]
      a TensorFlow.js "layers" folder (model.json + group*-shard* files), e.g.
      ../shared/weights/vgg19-imagenet-blocks1-3; the first weight group whose shard files are
      missing ends the network there.  VGG19 or VGG16 is told from the layers model.json lists.
  convert.py keras FILE.h5 OUT.nstw [--fp16] [--model vgg19|vgg16]
      Keras's vgg19_/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 (root attribute
      layer_names, per layer the attribute weight_names naming the kernel (HWIO) and the bias);
      a file holding only the first layers gives a network that stops at its last layer.
  convert.py fast FILE.bin OUT.nstw [--name candy]
      a feed-forward style network laid out as ../shared/fast-styles/ARCHITECTURE.md says; stored
      as arch 2 (transformer), float16 kernels with their bits unchanged, layers conv1..conv16.
  convert.py random --arch vgg16|vgg19 [--blocks N] [--seed S] [--fp16] OUT.nstw
      He-initialised random weights with the real VGG shapes (for tests), biases uniform in
      [-0.05, 0.05] so that tests see them.
  convert.py info FILE.nstw
      prints the header and the layer table, checks every rule of FORMAT.md and the checksum;
      exits 1 if anything is wrong.

--fp16 stores the kernels as IEEE float16 (rounded to nearest even); biases stay float32.
Outputs are written to a temporary file beside OUT and renamed over it, so OUT is either the old
file or a complete new one.  Errors are one line on stderr, "convert.py: ...", and exit status 1.

As a module: read_nstw(path) returns (header dict, [layer dict with 'kernel' HWIO float32,
'bias', and 'gamma'/'beta' if normalized]) and raises NstwError on any malformed file.
"""
import argparse
import json
import math
import os
import re
import struct
import sys
import zlib

import numpy as np

# --- the format (mirrors src/weights_format.h) -------------------------------------------------
MAGIC = b"NSTW"
VERSION = 1
HEADER_BYTES = 128
LAYER_BYTES = 128
ALIGNMENT = 64
MAX_LAYERS = 256
MAX_DIM = 65535
OP_CONV2D = 1
FLAG_NORM = 1
CHECKSUM_OFFSET = 64
DTYPE_F32, DTYPE_F16 = 0, 1
ARCH_VGG, ARCH_TRANSFORMER = 1, 2
MODEL_BYTES, SOURCE_BYTES, NAME_BYTES = 32, 56, 24
# magic, version, header_bytes, n_layers, dtype, arch, model, payload_bytes, checksum, reserved, source
HEADER = struct.Struct("<4sIIIII32sQII56s")
# name, op, kernel_h, kernel_w, in_channels, out_channels, stride, flags, reserved0, offset, bytes, reserved1
LAYER = struct.Struct("<24sIIIIIIIIQQ56s")
assert HEADER.size == HEADER_BYTES and LAYER.size == LAYER_BYTES
DTYPE_NAMES = {DTYPE_F32: "float32", DTYPE_F16: "float16"}
ARCH_NAMES = {ARCH_VGG: "vgg", ARCH_TRANSFORMER: "transformer"}
NP_DTYPE = {DTYPE_F32: np.dtype("<f4"), DTYPE_F16: np.dtype("<f2")}

# --- the networks ------------------------------------------------------------------------------
VGG_CONVS = {"vgg16": [2, 2, 3, 3, 3], "vgg19": [2, 2, 4, 4, 4]}   # convs per block
VGG_WIDTHS = [64, 128, 256, 512, 512]                               # out channels per block
VGG_INPUT_CHANNELS = 3
VGG_KERNEL = 3

# Fast-style networks (ARCHITECTURE.md): (out, in, kernel, stride) for convs 1..16; all but the
# last are followed by an instance norm.
FAST_CONVS = ([(32, 3, 9, 1), (64, 32, 3, 2), (128, 64, 3, 2)] + [(128, 128, 3, 1)] * 10 +
              [(64, 128, 3, 1), (32, 64, 3, 1), (3, 32, 9, 1)])
FAST_F16_TAG = 0x01306B47
FAST_TAG_BYTES = 4


def fail(message):
    sys.exit("convert.py: " + " ".join(str(message).split()))


def note(message):
    print("convert.py: " + message, file=sys.stderr)


class NstwError(Exception):
    pass


class Layer:
    """One convolution: kernel HWIO [kh][kw][cin][cout], bias [cout], optional gamma/beta [cout]."""

    def __init__(self, name, kernel, bias, stride=1, gamma=None, beta=None):
        self.name, self.kernel, self.bias, self.stride = name, kernel, bias, stride
        self.gamma, self.beta = gamma, beta


def vgg_names(model):
    return ["conv%d_%d" % (b + 1, c + 1) for b, n in enumerate(VGG_CONVS[model]) for c in range(n)]


def vgg_shapes(model):
    """{convB_I: (in, out)} of the real network."""
    shapes, cin = {}, VGG_INPUT_CHANNELS
    for b, n in enumerate(VGG_CONVS[model]):
        for c in range(n):
            shapes["conv%d_%d" % (b + 1, c + 1)] = (cin, VGG_WIDTHS[b])
            cin = VGG_WIDTHS[b]
    return shapes


# --- writing -----------------------------------------------------------------------------------
def _fixed(text, size, what):
    raw = text.encode("utf-8")
    if len(raw) >= size:
        fail("%s %r is longer than %d bytes" % (what, text, size - 1))
    return raw


def _pad_to(buf, multiple):
    buf.extend(b"\0" * (-len(buf) % multiple))


def nstw_bytes(model, source, arch, dtype, layers):
    """The complete file, checksum included."""
    if not 1 <= len(layers) <= MAX_LAYERS:
        fail("%d layers; a .nstw file holds 1..%d" % (len(layers), MAX_LAYERS))
    src = source.encode("utf-8")[:SOURCE_BYTES - 1].decode("utf-8", "ignore").encode("utf-8")
    header_bytes = -(-(HEADER_BYTES + LAYER_BYTES * len(layers)) // ALIGNMENT) * ALIGNMENT
    payload, table = bytearray(), bytearray()
    for layer in layers:
        kh, kw, cin, cout = layer.kernel.shape
        for what, v in (("kernel_h", kh), ("kernel_w", kw), ("in_channels", cin), ("out_channels", cout),
                        ("stride", layer.stride)):
            if not 1 <= v <= MAX_DIM:
                fail("layer %s: %s %d outside 1..%d" % (layer.name, what, v, MAX_DIM))
        norm = layer.gamma is not None
        vectors = [layer.bias] + ([layer.gamma, layer.beta] if norm else [])
        for v in vectors:
            if v.shape != (cout,):
                fail("layer %s: a vector of shape %s, the kernel has %d outputs" % (layer.name, v.shape, cout))
        _pad_to(payload, ALIGNMENT)
        offset = len(payload)
        payload += np.ascontiguousarray(layer.kernel, dtype=NP_DTYPE[dtype]).tobytes()   # [kh][kw][cin][cout]
        _pad_to(payload, 4)
        for v in vectors:                                                               # [cout] float32 each
            payload += np.ascontiguousarray(v, dtype="<f4").tobytes()
        table += LAYER.pack(_fixed(layer.name, NAME_BYTES, "layer name"), OP_CONV2D, kh, kw, cin, cout,
                            layer.stride, FLAG_NORM if norm else 0, 0, offset, len(payload) - offset, b"")
    head = HEADER.pack(MAGIC, VERSION, header_bytes, len(layers), dtype, arch,
                       _fixed(model, MODEL_BYTES, "model name"), len(payload), 0, 0, src)
    data = bytearray(head + table)
    _pad_to(data, ALIGNMENT)
    assert len(data) == header_bytes
    data += payload
    struct.pack_into("<I", data, CHECKSUM_OFFSET, zlib.crc32(data) & 0xFFFFFFFF)
    return bytes(data)


def write_nstw(path, model, source, arch, dtype, layers):
    """Writes atomically: a temporary file beside path, then os.replace."""
    data = nstw_bytes(model, source, arch, dtype, layers)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        fail("%s: the folder %s does not exist" % (path, directory))
    tmp = os.path.join(directory, ".%s.tmp%d" % (os.path.basename(path), os.getpid()))
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        fail("%s: cannot write: %s" % (path, e.strerror or e))
    return data


# --- reading -----------------------------------------------------------------------------------
def _cstr(raw, what, path):
    if b"\0" not in raw:
        raise NstwError("%s: %s is not NUL-terminated" % (path, what))
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def read_nstw(path, with_values=True):
    """Reads and checks a .nstw file by every rule of FORMAT.md; returns (header, layers)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise NstwError("%s: cannot open: %s" % (path, e.strerror or e))
    if len(data) < HEADER_BYTES:
        raise NstwError("%s: %d bytes, shorter than the %d-byte header" % (path, len(data), HEADER_BYTES))
    (magic, version, header_bytes, n_layers, dtype, arch, model, payload_bytes, checksum, _reserved,
     source) = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise NstwError("%s: not a weights file (magic %r)" % (path, magic))
    if version != VERSION:
        raise NstwError("%s: weights file version %d; this reader reads version %d" % (path, version, VERSION))
    if not 1 <= n_layers <= MAX_LAYERS:
        raise NstwError("%s: %d layers; 1..%d allowed" % (path, n_layers, MAX_LAYERS))
    want_header = -(-(HEADER_BYTES + LAYER_BYTES * n_layers) // ALIGNMENT) * ALIGNMENT
    if header_bytes != want_header:
        raise NstwError("%s: header_bytes %d; %d layers need %d" % (path, header_bytes, n_layers, want_header))
    if dtype not in DTYPE_NAMES:
        raise NstwError("%s: unknown dtype %d" % (path, dtype))
    if arch not in ARCH_NAMES:
        raise NstwError("%s: unknown arch %d" % (path, arch))
    if len(data) != header_bytes + payload_bytes:
        what = "truncated: " if len(data) < header_bytes + payload_bytes else ""
        raise NstwError("%s: %s%d bytes expected, %d found" % (path, what, header_bytes + payload_bytes, len(data)))
    header = dict(version=version, header_bytes=header_bytes, n_layers=n_layers, dtype=dtype, arch=arch,
                  model=_cstr(model, "the model name", path), payload_bytes=payload_bytes, checksum=checksum,
                  source=_cstr(source, "the source note", path), file_bytes=len(data))
    layers, end, names = [], 0, set()
    block, conv, channels = 0, 0, VGG_INPUT_CHANNELS
    payload = memoryview(data)[header_bytes:]
    for i in range(n_layers):
        (name, op, kh, kw, cin, cout, stride, flags, _r0, offset, nbytes,
         _r1) = LAYER.unpack_from(data, HEADER_BYTES + i * LAYER_BYTES)
        name = _cstr(name, "layer %d's name" % i, path)
        where = "%s: layer %d (%s)" % (path, i, name)
        if not name or name in names:
            raise NstwError("%s: empty or repeated name" % where)
        names.add(name)
        if op != OP_CONV2D:
            raise NstwError("%s: unknown op %d" % (where, op))
        for what, v in (("kernel_h", kh), ("kernel_w", kw), ("in_channels", cin), ("out_channels", cout),
                        ("stride", stride)):
            if not 1 <= v <= MAX_DIM:
                raise NstwError("%s: %s %d outside 1..%d" % (where, what, v, MAX_DIM))
        if flags & ~FLAG_NORM:
            raise NstwError("%s: unknown flags 0x%x" % (where, flags))
        kernel_bytes = kh * kw * cin * cout * NP_DTYPE[dtype].itemsize
        bias_at = -(-kernel_bytes // 4) * 4
        vectors = 3 if flags & FLAG_NORM else 1
        need = bias_at + 4 * cout * vectors
        if nbytes != need:
            raise NstwError("%s: %d data bytes, its shape needs %d" % (where, nbytes, need))
        if offset % ALIGNMENT or offset < end or offset + nbytes > payload_bytes:
            raise NstwError("%s: data at %d..%d is misaligned, overlapping or outside the %d-byte payload"
                            % (where, offset, offset + nbytes, payload_bytes))
        end = offset + nbytes
        if arch == ARCH_VGG:
            if block and name == "conv%d_%d" % (block, conv + 1):
                conv += 1
            elif block < len(VGG_WIDTHS) and name == "conv%d_1" % (block + 1):
                block, conv = block + 1, 1
            else:
                raise NstwError("%s: not the next VGG layer name" % where)
            if cin != channels:
                raise NstwError("%s: in_channels %d, the previous output has %d" % (where, cin, channels))
            channels = cout
        layer = dict(name=name, op=op, kernel_h=kh, kernel_w=kw, in_channels=cin, out_channels=cout,
                     stride=stride, flags=flags, offset=offset, bytes=nbytes)
        if with_values:
            k = np.frombuffer(payload, NP_DTYPE[dtype], kh * kw * cin * cout, offset)
            layer["kernel_raw"] = k.reshape(kh, kw, cin, cout)                    # [kh][kw][cin][cout]
            layer["kernel"] = layer["kernel_raw"].astype(np.float32)
            vec = np.frombuffer(payload, "<f4", cout * vectors, offset + bias_at).reshape(vectors, cout)
            layer["bias"] = vec[0]
            if vectors == 3:
                layer["gamma"], layer["beta"] = vec[1], vec[2]
        layers.append(layer)
    zeroed = bytearray(data[:HEADER_BYTES])
    struct.pack_into("<I", zeroed, CHECKSUM_OFFSET, 0)
    crc = zlib.crc32(data[HEADER_BYTES:], zlib.crc32(zeroed)) & 0xFFFFFFFF
    if crc != checksum:
        raise NstwError("%s: checksum mismatch: header 0x%08x, contents 0x%08x" % (path, checksum, crc))
    return header, layers


# --- VGG from tfjs / keras ---------------------------------------------------------------------
CONV_NAME = re.compile(r"^block(\d+)_conv(\d+)$")


def vgg_layers(entries, model, origin, dtype):
    """entries: [(convB_I, kernel HWIO, bias)] in file order; checks them against the real VGG."""
    names, shapes = vgg_names(model), vgg_shapes(model)
    if not entries:
        fail("%s: no convolution weights found" % origin)
    if len(entries) > len(names):
        fail("%s: %d convolutions; %s has %d" % (origin, len(entries), model, len(names)))
    layers = []
    for (name, kernel, bias), want in zip(entries, names):
        if name != want:
            fail("%s: layer %s where %s has %s" % (origin, name, model, want))
        cin, cout = shapes[name]
        if kernel is None or bias is None:
            fail("%s: layer %s lacks its %s" % (origin, name, "kernel" if kernel is None else "bias"))
        if kernel.shape != (VGG_KERNEL, VGG_KERNEL, cin, cout) or bias.shape != (cout,):
            fail("%s: layer %s has kernel %s and bias %s; %s's is (3, 3, %d, %d) and (%d,)"
                 % (origin, name, tuple(kernel.shape), tuple(bias.shape), model, cin, cout, cout))
        for what, a in (("kernel", kernel), ("bias", bias)):
            if not np.issubdtype(a.dtype, np.floating):
                fail("%s: layer %s's %s is %s, not floating point" % (origin, name, what, a.dtype))
            if not np.all(np.isfinite(a)):
                fail("%s: layer %s's %s holds NaN or infinite values" % (origin, name, what))
        if dtype == DTYPE_F16 and np.max(np.abs(kernel)) > np.finfo(np.float16).max:
            fail("%s: layer %s's kernel exceeds the float16 range; drop --fp16" % (origin, name))
        layers.append(Layer(name, np.asarray(kernel, "<f4"), np.asarray(bias, "<f4")))
    return layers


def detect_vgg(conv_ids, hint, origin, model):
    """vgg16 has 3 convs in block 3, vgg19 4; else the file name; else --model."""
    if model:
        return model
    block3 = [c for b, c in conv_ids if b == 3]
    if block3 and max(block3) in (3, 4):
        return "vgg16" if max(block3) == 3 else "vgg19"
    for m in VGG_CONVS:
        if m in os.path.basename(os.path.normpath(hint)).lower():
            return m
    fail("%s: cannot tell VGG16 from VGG19 (no block 3 listed); pass --model" % origin)


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def convert_tfjs(folder, out, dtype, model):
    if not os.path.isdir(folder):
        fail("%s: no such folder" % folder)
    mj = os.path.join(folder, "model.json")
    try:
        with open(mj) as f:
            meta = json.load(f)
    except OSError as e:
        fail("%s: cannot read: %s" % (mj, e.strerror or e))
    except ValueError as e:
        fail("%s: not valid JSON: %s" % (mj, e))
    manifest = meta.get("weightsManifest") if isinstance(meta, dict) else None
    if not isinstance(manifest, list) or not manifest:
        fail("%s: no weightsManifest: not a TensorFlow.js layers model" % mj)
    ids = {(int(m.group(1)), int(m.group(2))) for s in _strings(meta.get("modelTopology", {}))
           for m in [CONV_NAME.match(s)] if m}
    if not ids:
        ids = {(int(m.group(1)), int(m.group(2))) for s in _strings(manifest)
               for m in [CONV_NAME.match(s.split("/")[0])] if m}
    model = detect_vgg(ids, folder, folder, model)
    entries = {}
    for gi, group in enumerate(manifest):
        try:
            paths = [os.path.join(folder, p) for p in group["paths"]]
            weights = group["weights"]
        except (KeyError, TypeError):
            fail("%s: weight group %d lacks paths or weights" % (mj, gi + 1))
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            if not entries:
                fail("%s: shard %s of the first weight group is missing" % (folder, missing[0]))
            note("%s: shard %s is missing: the network ends at %s" % (folder, os.path.basename(missing[0]),
                                                                     list(entries)[-1]))
            break
        blob = b""
        for p in paths:
            with open(p, "rb") as f:
                blob += f.read()
        off = 0
        for w in weights:
            wname, shape = str(w.get("name", "")), w.get("shape")
            if w.get("dtype", "float32") != "float32" or "quantization" in w:
                fail("%s: weight %s is %s%s; only plain float32 is supported" % (mj, wname, w.get("dtype"),
                     " quantized" if "quantization" in w else ""))
            m = re.match(r"^block(\d+)_conv(\d+)/(kernel|bias)(:0)?$", wname)
            if not m or not isinstance(shape, list):
                fail("%s: unexpected weight %r (expected blockB_convI/kernel or /bias)" % (mj, wname))
            n = int(np.prod(shape, dtype=np.int64))
            if off + 4 * n > len(blob):
                fail("%s: the shards of group %d hold %d bytes, fewer than the manifest's weights need"
                     % (folder, gi + 1, len(blob)))
            arr = np.frombuffer(blob, "<f4", n, off).reshape(shape)
            off += 4 * n
            entry = entries.setdefault("conv%s_%s" % (m.group(1), m.group(2)), [None, None])
            entry[0 if m.group(3) == "kernel" else 1] = arr
        if off != len(blob):
            fail("%s: the shards of group %d hold %d bytes, the manifest's weights %d" % (folder, gi + 1,
                 len(blob), off))
    layers = vgg_layers([(k, v[0], v[1]) for k, v in entries.items()], model, folder, dtype)
    source = "tfjs:" + os.path.basename(os.path.normpath(folder))
    write_nstw(out, model, source, ARCH_VGG, dtype, layers)
    return model, layers


def convert_keras(path, out, dtype, model):
    try:
        import h5py
    except ImportError:
        fail("reading Keras files needs h5py (apt-get install python3-h5py)")
    if not os.path.isfile(path):
        fail("%s: no such file" % path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        fail("%s: not a readable HDF5 file (%s)" % (path, e))
    with f:
        root = f
        if "layer_names" not in root.attrs and "model_weights" in root:
            root = root["model_weights"]       # a whole model saved with model.save()
        if "layer_names" not in root.attrs:
            fail("%s: no root attribute layer_names: not a Keras weights file" % path)
        decode = lambda s: s.decode("utf-8") if isinstance(s, bytes) else str(s)
        try:
            names = [decode(s) for s in root.attrs["layer_names"]]
        except (TypeError, OSError) as e:
            fail("%s: unreadable attribute layer_names (%s)" % (path, e))
        ids = {(int(m.group(1)), int(m.group(2))) for s in names for m in [CONV_NAME.match(s)] if m}
        model = detect_vgg(ids, path, path, model)
        entries = []
        for ln in names:
            if ln not in root:
                if not CONV_NAME.match(ln):
                    continue                   # a layer without weights need not have a group
                if entries:
                    note("%s: layer %s is listed but absent: the network ends at %s" % (path, ln, entries[-1][0]))
                    break
                fail("%s: layer %s is listed in layer_names but absent" % (path, ln))
            g = root[ln]
            if not isinstance(g, h5py.Group):
                fail("%s: %s is not a group" % (path, ln))
            wnames = [decode(s) for s in g.attrs.get("weight_names", [])]
            if not wnames:
                continue                       # input, pooling
            m = CONV_NAME.match(ln)
            if not m:
                note("%s: ignoring layer %s (not a VGG convolution)" % (path, ln))
                continue
            kernel = bias = None
            for wn in wnames:
                try:
                    ds = g[wn]
                    arr = np.asarray(ds[()])
                except (KeyError, OSError, TypeError) as e:
                    fail("%s: layer %s names weight %s, which cannot be read (%s)" % (path, ln, wn, e))
                if arr.ndim == 4 and kernel is None:
                    kernel = arr
                elif arr.ndim == 1 and bias is None:
                    bias = arr
                else:
                    fail("%s: layer %s: weight %s has shape %s; expected one 4-D kernel and one 1-D bias"
                         % (path, ln, wn, arr.shape))
            entries.append(("conv%s_%s" % (m.group(1), m.group(2)), kernel, bias))
    layers = vgg_layers(entries, model, path, dtype)
    write_nstw(out, model, "keras:" + os.path.basename(path), ARCH_VGG, dtype, layers)
    return model, layers


# --- fast-style networks ------------------------------------------------------------------------
def fast_bytes():
    return sum(FAST_TAG_BYTES + 2 * o * c * k * k + 4 * o * (3 if i < len(FAST_CONVS) - 1 else 1)
               for i, (o, c, k, _s) in enumerate(FAST_CONVS))


def decode_fast(path):
    """[Layer] with float16 HWIO kernels (bits unchanged) from an ncnn fast-style .bin."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail("%s: cannot read: %s" % (path, e.strerror or e))
    if len(data) != fast_bytes():
        fail("%s: %d bytes; a fast-style network (ARCHITECTURE.md) has %d" % (path, len(data), fast_bytes()))
    off, layers = 0, []
    for i, (o, c, k, stride) in enumerate(FAST_CONVS):
        tag = int.from_bytes(data[off:off + FAST_TAG_BYTES], "little")
        if tag != FAST_F16_TAG:
            fail("%s: conv %d: tag 0x%08x at byte %d, expected 0x%08x (float16 weights)"
                 % (path, i + 1, tag, off, FAST_F16_TAG))
        off += FAST_TAG_BYTES
        n = o * c * k * k
        w = np.frombuffer(data, "<f2", n, off).reshape(o, c, k, k)     # [out][in][kh][kw]
        off += 2 * n
        vec = lambda: np.frombuffer(data, "<f4", o, off)
        bias = vec(); off += 4 * o
        gamma = beta = None
        if i < len(FAST_CONVS) - 1:
            gamma = vec(); off += 4 * o
            beta = vec(); off += 4 * o
        layers.append(Layer("conv%d" % (i + 1), np.ascontiguousarray(w.transpose(2, 3, 1, 0)),  # [kh][kw][in][out]
                            bias, stride, gamma, beta))
    assert off == len(data)
    return layers


def convert_fast(path, out, name):
    if not os.path.isfile(path):
        fail("%s: no such file" % path)
    name = name or os.path.splitext(os.path.basename(path))[0]
    layers = decode_fast(path)
    write_nstw(out, name, "fast:" + os.path.basename(path), ARCH_TRANSFORMER, DTYPE_F16, layers)
    return layers


# --- random -------------------------------------------------------------------------------------
BIAS_RANGE = 0.05


def random_vgg(model, blocks, seed):
    rng = np.random.default_rng(seed)
    layers, cin = [], VGG_INPUT_CHANNELS
    for b in range(blocks):
        for c in range(VGG_CONVS[model][b]):
            cout = VGG_WIDTHS[b]
            std = math.sqrt(2.0 / (VGG_KERNEL * VGG_KERNEL * cin))            # He
            kernel = (rng.standard_normal((VGG_KERNEL, VGG_KERNEL, cin, cout)) * std).astype("<f4")
            bias = rng.uniform(-BIAS_RANGE, BIAS_RANGE, cout).astype("<f4")
            layers.append(Layer("conv%d_%d" % (b + 1, c + 1), kernel, bias))
            cin = cout
    return layers


# --- info ---------------------------------------------------------------------------------------
def info(path):
    try:
        header, layers = read_nstw(path, with_values=False)
    except NstwError as e:
        fail(e)
    h = header
    print("%s: %d bytes, version %d, model %s, arch %d (%s), dtype %d (%s)" % (
        path, h["file_bytes"], h["version"], h["model"], h["arch"], ARCH_NAMES[h["arch"]], h["dtype"],
        DTYPE_NAMES[h["dtype"]]))
    print("source: %s" % h["source"])
    print("header_bytes %d, payload_bytes %d, %d layers, checksum 0x%08x (verified)" % (
        h["header_bytes"], h["payload_bytes"], h["n_layers"], h["checksum"]))
    print("%-3s %-10s %-7s %6s %6s %6s %5s %12s %12s" % ("#", "name", "kernel", "in", "out", "stride", "norm",
                                                          "offset", "bytes"))
    for i, l in enumerate(layers):
        print("%-3d %-10s %-7s %6d %6d %6d %5s %12d %12d" % (
            i, l["name"], "%dx%d" % (l["kernel_h"], l["kernel_w"]), l["in_channels"], l["out_channels"],
            l["stride"], "yes" if l["flags"] & FLAG_NORM else "no", l["offset"], l["bytes"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("tfjs", help="TensorFlow.js layers folder -> .nstw")
    p.add_argument("folder"); p.add_argument("out")
    p.add_argument("--fp16", action="store_true"); p.add_argument("--model", choices=sorted(VGG_CONVS))
    p = sub.add_parser("keras", help="Keras VGG *_notop.h5 -> .nstw")
    p.add_argument("file"); p.add_argument("out")
    p.add_argument("--fp16", action="store_true"); p.add_argument("--model", choices=sorted(VGG_CONVS))
    p = sub.add_parser("fast", help="fast-style network .bin -> .nstw")
    p.add_argument("file"); p.add_argument("out"); p.add_argument("--name")
    p = sub.add_parser("random", help="random VGG weights with the real shapes")
    p.add_argument("out"); p.add_argument("--arch", required=True, choices=sorted(VGG_CONVS))
    p.add_argument("--blocks", type=int, default=len(VGG_WIDTHS)); p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fp16", action="store_true")
    p = sub.add_parser("info", help="print and verify a .nstw file")
    p.add_argument("file")
    a = ap.parse_args()

    dtype = DTYPE_F16 if getattr(a, "fp16", False) else DTYPE_F32
    if a.command == "tfjs":
        model, layers = convert_tfjs(a.folder, a.out, dtype, a.model)
    elif a.command == "keras":
        model, layers = convert_keras(a.file, a.out, dtype, a.model)
    elif a.command == "fast":
        layers = convert_fast(a.file, a.out, a.name)
        model = a.name or os.path.splitext(os.path.basename(a.file))[0]
    elif a.command == "random":
        if not 1 <= a.blocks <= len(VGG_WIDTHS):
            fail("--blocks must be 1..%d" % len(VGG_WIDTHS))
        model, layers = a.arch, random_vgg(a.arch, a.blocks, a.seed)
        write_nstw(a.out, model, "random:%s seed %d" % (a.arch, a.seed), ARCH_VGG, dtype, layers)
    else:
        info(a.file)
        return
    print("convert.py: wrote %s (%s, %d layers %s..%s, %s)" % (a.out, model, len(layers), layers[0].name,
                                                              layers[-1].name, DTYPE_NAMES[dtype if a.command != "fast" else DTYPE_F16]))


if __name__ == "__main__":
    main()
