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
  convert.py distilled FILE.pth OUT.nstw
      the distilled VGG19 of ../shared/weights/vgg19-distilled-16x (encoder5_16x.pth, a legacy
      torch.save pickle read by torch_legacy.py without torch and without running the pickle):
      conv1_1..conv5_1 with reflection padding, the input transform and conv0 folded into
      conv1_1 (in float64, then rounded), and the five 1x1 taps tap1_1..tap5_1.
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
VERSION = 2                 # written for VGG and transformer networks: the lowest version that holds them
VERSION_GROUPS = 3          # written for networks with grouped convolutions or the arbitrary-style arch
VERSIONS = (1, 2, 3)
HEADER_BYTES = 128
LAYER_BYTES = 128
DEFAULTS_BYTES = 256        # version 2: the network's default layers and weights, after the table
ALIGNMENT = 64
MAX_LAYERS = 256
MAX_DIM = 65535
OP_CONV2D = 1
OP_TAP = 2                  # version 2: 1x1 conv + ReLU on a trunk conv's ReLU output (its `tap_of`)
FLAG_NORM = 1
FLAG_REFLECT = 2            # version 2: reflection padding (kernel // 2 on every side) instead of zeros
INPUT_CAFFE = 0             # the header's input convention: x = BGR - ImageNet mean, 0..255
INPUT_RGB01 = 1             # version 3, the arbitrary-style arch: x = RGB / 255, 0..1
CHECKSUM_OFFSET = 64
DTYPE_F32, DTYPE_F16 = 0, 1
ARCH_VGG, ARCH_TRANSFORMER, ARCH_ARBITRARY = 1, 2, 3
MODEL_BYTES, SOURCE_BYTES, NAME_BYTES = 32, 56, 24
# magic, version, header_bytes, n_layers, dtype, arch, model, payload_bytes, checksum, reserved, source
HEADER = struct.Struct("<4sIIIII32sQII56s")
# name, op, kernel_h, kernel_w, in_channels, out_channels, stride, flags, groups (version 3; before: reserved, 0),
# offset, bytes, tap_of, reserved1
LAYER = struct.Struct("<24sIIIIIIIIQQ24s32s")
# n_content, n_style, content_weight, style_weight, tv_weight, present, content[4][16], style[8][16],
# style_layer_weights[8], reserved
MAX_DEFAULT_CONTENT, MAX_DEFAULT_STYLE, DEFAULT_NAME_BYTES = 4, 8, 16
DEFAULTS = struct.Struct("<IIfffI64s128s8f8s")
assert HEADER.size == HEADER_BYTES and LAYER.size == LAYER_BYTES and DEFAULTS.size == DEFAULTS_BYTES
DTYPE_NAMES = {DTYPE_F32: "float32", DTYPE_F16: "float16"}
ARCH_NAMES = {ARCH_VGG: "vgg", ARCH_TRANSFORMER: "transformer", ARCH_ARBITRARY: "arbitrary"}
ARCH_INPUT = {ARCH_VGG: INPUT_CAFFE, ARCH_TRANSFORMER: INPUT_CAFFE, ARCH_ARBITRARY: INPUT_RGB01}
RELU_NAME = re.compile(r"^relu[1-5]_[1-4]$")
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
    """One convolution: kernel HWIO [kh][kw][cin / groups][cout], bias [cout], optional gamma/beta
    [cout]; reflect: reflection padding; tap_of: a tap (1x1 conv + ReLU) of that trunk conv's output;
    groups: output channel o reads the input channels of group o // (cout / groups)."""

    def __init__(self, name, kernel, bias, stride=1, gamma=None, beta=None, reflect=False, tap_of=None, groups=1):
        self.name, self.kernel, self.bias, self.stride = name, kernel, bias, stride
        self.gamma, self.beta = gamma, beta
        self.reflect, self.tap_of, self.groups = reflect, tap_of, groups


class Defaults:
    """A network's default loss layers and weights (version 2's defaults block)."""

    def __init__(self, content, content_weight, style, style_layer_weights, style_weight, tv_weight):
        self.content, self.style = list(content), list(style)
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        self.style_layer_weights = list(style_layer_weights)


# CONVENTIONS.md's defaults (any VGG file that says nothing).
CONVENTIONS_DEFAULTS = Defaults(["relu3_2"], 5.0, ["relu1_1", "relu2_1", "relu3_1"], [1.0, 1.0, 1.0], 100.0, 1e-3)
# The genuine VGG19 to block 3 (the offline file): CONVENTIONS.md's layers, but a style weight of 3000:
# at 100 these layers give the photo with a faint cast; 3000 paints it in the painting's palette and
# small strokes with faces intact (astronaut x Starry Night, 256 px, looked at beside 100 and 1000).
BLOCKS13_DEFAULTS = Defaults(["relu3_2"], 5.0, ["relu1_1", "relu2_1", "relu3_1"], [1.0, 1.0, 1.0], 3000.0, 1e-3)
# The genuine VGG19 with blocks 4-5: neural-style's layers and weights (its normalisation is ours).
VGG19_FULL_DEFAULTS = Defaults(["relu4_2"], 5.0, ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
                               [1.0] * 5, 100.0, 1e-3)
# The distilled network, chosen by looking at the panel of `make gallery` (4 photos x the paintings):
# style relu1_1..relu5_1 on the taps with Gatys' per-layer weights C_l^2 and style weight 1e5 give
# the painting's large strokes; content relu3_1 at 1e4 keeps faces recognizable (relu4_1 at 3e4 or
# 1e5 blurred the astronaut's face into blotches); tv 1e-5 (1e-3 dominates the total here).
DISTILLED_DEFAULTS = Defaults(["relu3_1"], 1e4, ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
                              [64.0 ** 2, 128.0 ** 2, 256.0 ** 2, 512.0 ** 2, 512.0 ** 2], 1e5, 1e-5)


def defaults_bytes(d):
    if d is None:
        return b"\0" * DEFAULTS_BYTES
    if len(d.content) > MAX_DEFAULT_CONTENT or not 0 < len(d.style) <= MAX_DEFAULT_STYLE or \
            len(d.style_layer_weights) != len(d.style):
        fail("defaults: %d content and %d style layers (at most %d and %d), %d per-layer weights"
             % (len(d.content), len(d.style), MAX_DEFAULT_CONTENT, MAX_DEFAULT_STYLE, len(d.style_layer_weights)))
    for n in d.content + d.style:
        if not RELU_NAME.match(n):
            fail("defaults: %r is not a layer name reluB_I" % n)
    names = lambda l, k: b"".join(n.encode().ljust(DEFAULT_NAME_BYTES, b"\0") for n in l).ljust(k * DEFAULT_NAME_BYTES, b"\0")
    w = list(d.style_layer_weights) + [0.0] * (MAX_DEFAULT_STYLE - len(d.style))
    return DEFAULTS.pack(len(d.content), len(d.style), d.content_weight, d.style_weight, d.tv_weight, 1,
                         names(d.content, MAX_DEFAULT_CONTENT), names(d.style, MAX_DEFAULT_STYLE), *w, b"")


def parse_defaults(raw, path):
    (nc, ns, cw, sw, tw, present, content, style, *rest) = DEFAULTS.unpack(raw)
    weights = rest[:MAX_DEFAULT_STYLE]
    if not present:
        if raw.strip(b"\0"):
            raise NstwError("%s: the defaults block is marked absent but is not all zero" % path)
        return None
    if present != 1 or nc > MAX_DEFAULT_CONTENT or not 0 < ns <= MAX_DEFAULT_STYLE:
        raise NstwError("%s: defaults block: flag %d, %d content and %d style layers" % (path, present, nc, ns))
    def names(blob, n):
        out = []
        for i in range(n):
            field = blob[i * DEFAULT_NAME_BYTES:(i + 1) * DEFAULT_NAME_BYTES]
            name = _cstr(field, "a default layer name", path)
            if not RELU_NAME.match(name):
                raise NstwError("%s: default layer %r is not reluB_I" % (path, name))
            out.append(name)
        return out
    values = [cw, sw, tw] + list(weights[:ns])
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise NstwError("%s: a default weight is negative or not finite" % path)
    return Defaults(names(content, nc), cw, names(style, ns), weights[:ns], sw, tw)


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


def header_size(version, n_layers):
    table = HEADER_BYTES + LAYER_BYTES * n_layers + (DEFAULTS_BYTES if version >= 2 else 0)
    return -(-table // ALIGNMENT) * ALIGNMENT


def nstw_bytes(model, source, arch, dtype, layers, defaults=None):
    """The complete file (version 2, or 3 when it needs groups or is the arbitrary-style arch), checksum
    included."""
    if not 1 <= len(layers) <= MAX_LAYERS:
        fail("%d layers; a .nstw file holds 1..%d" % (len(layers), MAX_LAYERS))
    src = source.encode("utf-8")[:SOURCE_BYTES - 1].decode("utf-8", "ignore").encode("utf-8")
    version = VERSION_GROUPS if arch == ARCH_ARBITRARY or any(l.groups != 1 for l in layers) else VERSION
    header_bytes = header_size(version, len(layers))
    payload, table = bytearray(), bytearray()
    for layer in layers:
        kh, kw, group_in, cout = layer.kernel.shape
        cin = group_in * layer.groups
        if layer.groups < 1 or cout % layer.groups:
            fail("layer %s: %d groups do not divide %d outputs" % (layer.name, layer.groups, cout))
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
        payload += np.ascontiguousarray(layer.kernel, dtype=NP_DTYPE[dtype]).tobytes()   # [kh][kw][cin/groups][cout]
        _pad_to(payload, 4)
        for v in vectors:                                                               # [cout] float32 each
            payload += np.ascontiguousarray(v, dtype="<f4").tobytes()
        flags = (FLAG_NORM if norm else 0) | (FLAG_REFLECT if layer.reflect else 0)
        op = OP_TAP if layer.tap_of else OP_CONV2D
        tap_of = _fixed(layer.tap_of, NAME_BYTES, "tap source") if layer.tap_of else b""
        table += LAYER.pack(_fixed(layer.name, NAME_BYTES, "layer name"), op, kh, kw, cin, cout,
                            layer.stride, flags, layer.groups if version >= VERSION_GROUPS else 0, offset,
                            len(payload) - offset, tap_of, b"")
    head = HEADER.pack(MAGIC, version, header_bytes, len(layers), dtype, arch,
                       _fixed(model, MODEL_BYTES, "model name"), len(payload), 0, ARCH_INPUT[arch], src)
    data = bytearray(head + table + defaults_bytes(defaults))
    _pad_to(data, ALIGNMENT)
    assert len(data) == header_bytes
    data += payload
    struct.pack_into("<I", data, CHECKSUM_OFFSET, zlib.crc32(data) & 0xFFFFFFFF)
    return bytes(data)


def write_nstw(path, model, source, arch, dtype, layers, defaults=None):
    """Writes atomically: a temporary file beside path, then os.replace."""
    data = nstw_bytes(model, source, arch, dtype, layers, defaults)
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
    (magic, version, header_bytes, n_layers, dtype, arch, model, payload_bytes, checksum, input_convention,
     source) = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise NstwError("%s: not a weights file (magic %r)" % (path, magic))
    if version not in VERSIONS:
        raise NstwError("%s: weights file version %d; this reader reads versions %s" % (
            path, version, " and ".join(map(str, VERSIONS))))
    if not 1 <= n_layers <= MAX_LAYERS:
        raise NstwError("%s: %d layers; 1..%d allowed" % (path, n_layers, MAX_LAYERS))
    if arch in ARCH_INPUT and input_convention != ARCH_INPUT[arch]:
        raise NstwError("%s: input convention %d; arch %d has %d" % (path, input_convention, arch, ARCH_INPUT[arch]))
    want_header = header_size(version, n_layers)
    if header_bytes != want_header:
        raise NstwError("%s: header_bytes %d; %d layers need %d" % (path, header_bytes, n_layers, want_header))
    if dtype not in DTYPE_NAMES:
        raise NstwError("%s: unknown dtype %d" % (path, dtype))
    if arch not in ARCH_NAMES or (arch == ARCH_ARBITRARY and version < VERSION_GROUPS):
        raise NstwError("%s: unknown arch %d (in version %d)" % (path, arch, version))
    if len(data) != header_bytes + payload_bytes:
        what = "truncated: " if len(data) < header_bytes + payload_bytes else ""
        raise NstwError("%s: %s%d bytes expected, %d found" % (path, what, header_bytes + payload_bytes, len(data)))
    header = dict(version=version, header_bytes=header_bytes, n_layers=n_layers, dtype=dtype, arch=arch,
                  model=_cstr(model, "the model name", path), payload_bytes=payload_bytes, checksum=checksum,
                  source=_cstr(source, "the source note", path), file_bytes=len(data), defaults=None)
    if version >= 2:
        at = HEADER_BYTES + LAYER_BYTES * n_layers
        header["defaults"] = parse_defaults(data[at:at + DEFAULTS_BYTES], path)
    layers, end, names = [], 0, set()
    block, conv, channels = 0, 0, VGG_INPUT_CHANNELS
    trunk, tapped = {}, set()             # conv name -> out_channels; convs with a tap
    payload = memoryview(data)[header_bytes:]
    for i in range(n_layers):
        (name, op, kh, kw, cin, cout, stride, flags, groups, offset, nbytes, tap_of,
         _r1) = LAYER.unpack_from(data, HEADER_BYTES + i * LAYER_BYTES)
        name = _cstr(name, "layer %d's name" % i, path)
        where = "%s: layer %d (%s)" % (path, i, name)
        if not name or name in names:
            raise NstwError("%s: empty or repeated name" % where)
        names.add(name)
        if op != OP_CONV2D and not (version >= 2 and op == OP_TAP):
            raise NstwError("%s: unknown op %d" % (where, op))
        tap_of = _cstr(tap_of, "the tap source", path) if op == OP_TAP else None
        for what, v in (("kernel_h", kh), ("kernel_w", kw), ("in_channels", cin), ("out_channels", cout),
                        ("stride", stride)):
            if not 1 <= v <= MAX_DIM:
                raise NstwError("%s: %s %d outside 1..%d" % (where, what, v, MAX_DIM))
        if flags & ~(FLAG_NORM | (FLAG_REFLECT if version >= 2 else 0)):
            raise NstwError("%s: unknown flags 0x%x" % (where, flags))
        if version < VERSION_GROUPS:
            if groups:
                raise NstwError("%s: reserved field %d is not 0" % (where, groups))
            groups = 1
        elif groups < 1 or cin % groups or cout % groups or (groups > 1 and arch != ARCH_ARBITRARY):
            raise NstwError("%s: %d groups do not divide %d inputs and %d outputs (or not the arbitrary-style network)"
                            % (where, groups, cin, cout))
        group_in = cin // groups
        kernel_bytes = kh * kw * group_in * cout * NP_DTYPE[dtype].itemsize
        bias_at = -(-kernel_bytes // 4) * 4
        vectors = 3 if flags & FLAG_NORM else 1
        need = bias_at + 4 * cout * vectors
        if nbytes != need:
            raise NstwError("%s: %d data bytes, its shape needs %d" % (where, nbytes, need))
        if offset % ALIGNMENT or offset < end or offset + nbytes > payload_bytes:
            raise NstwError("%s: data at %d..%d is misaligned, overlapping or outside the %d-byte payload"
                            % (where, offset, offset + nbytes, payload_bytes))
        end = offset + nbytes
        if op == OP_TAP:
            if arch != ARCH_VGG or (kh, kw, stride, flags) != (1, 1, 1, 0):
                raise NstwError("%s: a tap is a 1x1, stride 1 convolution of a VGG network, without flags" % where)
            if tap_of not in trunk or tap_of in tapped or trunk[tap_of] != cin:
                raise NstwError("%s: taps %r, which is not an earlier untapped conv with %d outputs" % (where, tap_of, cin))
            tapped.add(tap_of)
        elif arch == ARCH_VGG:
            if block and name == "conv%d_%d" % (block, conv + 1):
                conv += 1
            elif block < len(VGG_WIDTHS) and name == "conv%d_1" % (block + 1):
                block, conv = block + 1, 1
            else:
                raise NstwError("%s: not the next VGG layer name" % where)
            if cin != channels:
                raise NstwError("%s: in_channels %d, the previous output has %d" % (where, cin, channels))
            channels = cout
            trunk[name] = cout
        layer = dict(name=name, op=op, kernel_h=kh, kernel_w=kw, in_channels=cin, out_channels=cout,
                     stride=stride, flags=flags, groups=groups, offset=offset, bytes=nbytes, tap_of=tap_of)
        if with_values:
            k = np.frombuffer(payload, NP_DTYPE[dtype], kh * kw * group_in * cout, offset)
            layer["kernel_raw"] = k.reshape(kh, kw, group_in, cout)               # [kh][kw][cin/groups][cout]
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


def vgg_defaults(model, layers):
    """The defaults a genuine VGG file carries: neural-style's with blocks 4-5 (VGG19 to conv5_1 at
    least), else CONVENTIONS.md's when it reaches conv3_2; none (the engine's) otherwise."""
    names = {l.name for l in layers}
    if model == "vgg19" and "conv5_1" in names:
        return VGG19_FULL_DEFAULTS
    if model == "vgg19" and "conv3_2" in names:
        return BLOCKS13_DEFAULTS
    return CONVENTIONS_DEFAULTS if "conv3_2" in names else None


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
    write_nstw(out, model, source, ARCH_VGG, dtype, layers, vgg_defaults(model, layers))
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
    write_nstw(out, model, "keras:" + os.path.basename(path), ARCH_VGG, dtype, layers, vgg_defaults(model, layers))
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


# --- the distilled VGG19 (../shared/weights/vgg19-distilled-16x) ----------------------------------
# CONVENTIONS.md, "The distilled network": x = BGR - mean (0..255) -> rgb = (RGB(x) + mean) / 255 ->
# conv0 (1x1, 3 -> 3) -> trunk conv11 .. conv51 (3x3, reflection padding) with 1x1 taps conv*1_aux.
MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float64)
PIXEL_SCALE = 255.0
DISTILLED_BLOCKS = [["11", "12"], ["21", "22"], ["31", "32", "33", "34"], ["41", "42", "43", "44"], ["51"]]
DISTILLED_TAPS = ["11", "21", "31", "41", "51"]


def fold_input(w0, b0, w1, b1):
    """conv1_1 with the input transform and conv0 folded in, in float64: with x BGR (0..255, minus
    the mean), y = W0 (RGB(x) + mean_rgb) / 255 + b0 = A x + d, A[c][k] = W0[c][2-k] / 255 (k a BGR
    channel), d = b0 + W0 mean_rgb / 255; conv1_1(y) = sum W1 (A x + d) + b1.  Both maps are affine per
    pixel, so they commute with the reflection padding (zero padding would not).
    w0 [3][3] (out, in RGB), w1 OIHW [o][c][kh][kw] -> (HWIO kernel [kh][kw][3 BGR][o], bias [o])."""
    w0, b0, w1, b1 = (np.asarray(a, np.float64) for a in (w0, b0, w1, b1))
    a = w0[:, ::-1] / PIXEL_SCALE                          # [c][k]: k BGR
    d = b0 + w0 @ MEAN_BGR[::-1] / PIXEL_SCALE             # [c]
    kernel = np.einsum("ochw,ck->hwko", w1, a)             # [kh][kw][k][o]
    bias = b1 + np.einsum("ochw,c->o", w1, d)
    return kernel.astype("<f4"), bias.astype("<f4")


def convert_distilled(path, out):
    import torch_legacy
    try:
        state, _info = torch_legacy.load(path)
    except torch_legacy.PthError as e:
        fail(e)
    def get(name, shape):
        if name not in state:
            fail("%s: no %s in the state dict" % (path, name))
        a = state[name]
        if shape is not None and a.shape != shape:
            fail("%s: %s has shape %s, expected %s" % (path, name, a.shape, shape))
        if not np.all(np.isfinite(a)):
            fail("%s: %s holds NaN or infinite values" % (path, name))
        return a
    w0, b0 = get("conv0.weight", (3, 3, 1, 1)).reshape(3, 3), get("conv0.bias", (3,))
    layers, cin = [], 3
    for b, block in enumerate(DISTILLED_BLOCKS):
        for c, key in enumerate(block):
            w = get("conv%s.weight" % key, None)
            if w.ndim != 4 or w.shape[1:] != (3 if cin == 3 else cin, 3, 3):
                fail("%s: conv%s.weight has shape %s, expected (out, %d, 3, 3)" % (path, key, w.shape, cin))
            bias = get("conv%s.bias" % key, (w.shape[0],))
            name = "conv%d_%d" % (b + 1, c + 1)
            if cin == 3:
                kernel, bias = fold_input(w0, b0, w, bias)
            else:
                kernel = np.ascontiguousarray(w.transpose(2, 3, 1, 0), "<f4")   # OIHW -> HWIO
            layers.append(Layer(name, kernel, np.asarray(bias, "<f4"), reflect=True))
            cin = w.shape[0]
            if key in DISTILLED_TAPS:
                tw = get("conv%s_aux.weight" % key, None)
                if tw.ndim != 4 or tw.shape[1:] != (cin, 1, 1):
                    fail("%s: conv%s_aux.weight has shape %s, expected (out, %d, 1, 1)" % (path, key, tw.shape, cin))
                tb = get("conv%s_aux.bias" % key, (tw.shape[0],))
                layers.append(Layer("tap%d_%d" % (b + 1, c + 1), np.ascontiguousarray(tw.transpose(2, 3, 1, 0), "<f4"),
                                    np.asarray(tb, "<f4"), tap_of=name))
    write_nstw(out, "vgg19-distilled", "pth:" + os.path.basename(path), ARCH_VGG, DTYPE_F32, layers,
               DISTILLED_DEFAULTS)
    return layers


# --- the arbitrary-style network: MicroAST (../shared/fast-styles/arbitrary/ARCHITECTURE.md) -------
# Its four parts, each a legacy .pth(.tar) state dict, in the order the .nstw file holds them: the
# layer names are the part's prefix + the state dict's name without ".conv_layer".
ARBITRARY_PARTS = [("content", "content_encoder_iter_160000.pth.tar"), ("style", "style_encoder_iter_160000.pth.tar"),
                   ("modulator", "modulator_iter_160000.pth.tar"), ("decoder", "decoder_iter_160000.pth.tar")]
ARBITRARY_WIDTH = 64        # the channels of the residual and modulated blocks


def _residual(prefix):
    """A residual (or modulated) block's two 3x3 convolutions."""
    return [(prefix + n, ARBITRARY_WIDTH, ARBITRARY_WIDTH, 3, 1, 1) for n in ("conv1", "conv2")]


# (name, out, in, kernel, stride, groups) of each part's convolutions, in the order they run.
ARBITRARY_ENCODER = ([("enc1.0", 16, 3, 9, 1, 1), ("enc1.2", 32, 16, 3, 2, 16), ("enc1.4", 32, 32, 1, 1, 1),
                      ("enc1.6", 64, 32, 3, 2, 32), ("enc1.8", 64, 64, 1, 1, 1)] +
                     _residual("enc1.10.") + _residual("enc2.0."))
ARBITRARY_CONVS = {
    "content": ARBITRARY_ENCODER,
    "style": ARBITRARY_ENCODER,
    "modulator": [(n, ARBITRARY_WIDTH, ARBITRARY_WIDTH, 3, 1, ARBITRARY_WIDTH)
                  for n in ("weight1.0", "bias1.0", "weight2.0", "bias2.0")],
    "decoder": (_residual("dec1.") + _residual("dec2.") +
                [("dec3.1", 32, 64, 3, 1, 32), ("dec3.3", 32, 32, 1, 1, 1), ("dec3.6", 16, 32, 3, 1, 16),
                 ("dec3.8", 16, 16, 1, 1, 1), ("dec3.10", 3, 16, 9, 1, 1)]),
}
ARBITRARY_MODEL = "arbitrary"


def convert_arbitrary(folder, out):
    """The four parts in folder -> one version-3 .nstw (arch arbitrary): every convolution reflection
    padded by kernel // 2 (none for 1x1), kernels OIHW [out][in/groups][k][k] -> [k][k][in/groups][out]."""
    import torch_legacy
    layers = []
    for part, filename in ARBITRARY_PARTS:
        path = os.path.join(folder, filename)
        try:
            state, _info = torch_legacy.load(path)
        except torch_legacy.PthError as e:
            fail(e)
        want = set()
        for name, cout, cin, k, stride, groups in ARBITRARY_CONVS[part]:
            wname, bname = name + ".conv_layer.weight", name + ".conv_layer.bias"
            want |= {wname, bname}
            if wname not in state or bname not in state:
                fail("%s: no %s / %s in the state dict" % (path, wname, bname))
            w, b = state[wname], state[bname]
            if w.shape != (cout, cin // groups, k, k) or b.shape != (cout,):
                fail("%s: %s has shape %s and its bias %s; ARCHITECTURE.md says (%d, %d, %d, %d) and (%d,)"
                     % (path, name, w.shape, b.shape, cout, cin // groups, k, k, cout))
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                fail("%s: %s holds NaN or infinite values" % (path, name))
            layers.append(Layer("%s.%s" % (part, name), np.ascontiguousarray(w.transpose(2, 3, 1, 0), "<f4"),
                                np.asarray(b, "<f4"), stride=stride, reflect=k > 1, groups=groups))
        extra = sorted(set(state) - want)
        if extra:
            fail("%s: tensors ARCHITECTURE.md does not have: %s" % (path, ", ".join(extra)))
    write_nstw(out, ARBITRARY_MODEL, "pth:MicroAST iter 160000", ARCH_ARBITRARY, DTYPE_F32, layers)
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
    width = max(10, max(len(l["name"]) for l in layers))
    print("%-3s %-*s %-7s %6s %6s %6s %6s %5s %12s %12s  %s" % ("#", width, "name", "kernel", "in", "out", "groups",
                                                                "stride", "norm", "offset", "bytes", "padding / tap"))
    for i, l in enumerate(layers):
        extra = ("tap of %s" % l["tap_of"]) if l["tap_of"] else \
            ("reflect" if l["flags"] & FLAG_REFLECT else "zero") if l["kernel_h"] > 1 else ""
        print("%-3d %-*s %-7s %6d %6d %6d %6d %5s %12d %12d  %s" % (
            i, width, l["name"], "%dx%d" % (l["kernel_h"], l["kernel_w"]), l["in_channels"], l["out_channels"],
            l["groups"], l["stride"], "yes" if l["flags"] & FLAG_NORM else "no", l["offset"], l["bytes"], extra))
    d = h["defaults"]
    if d:
        print("defaults: content %s weight %g; style %s weight %g, per layer %s; tv %g" % (
            ",".join(d.content) or "(none)", d.content_weight, ",".join(d.style), d.style_weight,
            ",".join("%g" % w for w in d.style_layer_weights), d.tv_weight))
    else:
        print("defaults: none in the file (the engine's)")


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
    p = sub.add_parser("distilled", help="the distilled VGG19's legacy .pth -> .nstw (without torch)")
    p.add_argument("file"); p.add_argument("out")
    p = sub.add_parser("arbitrary", help="the arbitrary-style network's four legacy .pth.tar files (a folder) -> .nstw")
    p.add_argument("folder"); p.add_argument("out")
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
    elif a.command == "distilled":
        layers, model = convert_distilled(a.file, a.out), "vgg19-distilled"
    elif a.command == "arbitrary":
        layers, model = convert_arbitrary(a.folder, a.out), ARBITRARY_MODEL
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
