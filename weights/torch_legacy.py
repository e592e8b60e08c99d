"""Reads a legacy (non-zip) torch.save file of float tensors WITHOUT torch and without running
anything the file names.

A legacy file is five things back to back: three small pickles (the magic number
0x1950a86a20f9469cfc6c, the protocol version 1001, a dict of system information), the pickle of
the saved object, the pickle of the list of storage keys, then one record per key in that list:
an int64 element count and the storage's raw little-endian bytes.

A pickle is a program: unpickling an untrusted one with pickle.load can call any function it
names (os.system, builtins.eval, ...).  Here every name a pickle asks for goes through
RestrictedUnpickler.find_class, which knows exactly three: collections.OrderedDict (the state
dict), torch._utils._rebuild_tensor_v2 and torch.FloatStorage, the last two answered with our own
stand-ins (torch is never imported).  Any other name is refused with PthError before anything of
it runs.  Storages are persistent ids, resolved by persistent_load into stand-ins whose bytes are
read afterwards from the records.

    state, info = load(path)     # {name: float32 numpy array}, {"keys": [...], ...}
"""
import collections
import io
import pickle
import struct

import numpy as np

MAGIC_NUMBER = 0x1950a86a20f9469cfc6c
PROTOCOL_VERSION = 1001
FLOAT_BYTES = 4
COUNT = struct.Struct("<q")


class PthError(Exception):
    pass


class FloatStorage:
    """Stand-in for torch.FloatStorage: only ever used as a tag in a persistent id."""


class Storage:
    """One storage record: filled from the records after the pickles."""

    def __init__(self, key, numel):
        self.key, self.numel, self.data = key, numel, None


class Tensor:
    """Stand-in for a rebuilt tensor: a view (offset, size, stride) of a storage."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self):
        n = self.storage.numel
        if any(s < 0 for s in self.stride) or any(d < 0 for d in self.size):
            raise PthError("tensor of storage %s: negative size or stride" % self.storage.key)
        last = self.offset + sum((d - 1) * s for d, s in zip(self.size, self.stride)) if all(self.size) else self.offset
        if self.offset < 0 or (all(self.size) and last >= n):
            raise PthError("tensor of storage %s reaches element %d of %d" % (self.storage.key, last, n))
        base = np.frombuffer(self.storage.data, "<f4")
        view = np.lib.stride_tricks.as_strided(base[self.offset:], self.size,
                                               [s * FLOAT_BYTES for s in self.stride], writeable=False)
        return np.array(view, dtype="<f4")                    # a contiguous copy


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, Storage):
        raise PthError("_rebuild_tensor_v2 on something other than a float storage")
    if not all(isinstance(v, int) for v in (storage_offset, *size, *stride)) or len(size) != len(stride):
        raise PthError("_rebuild_tensor_v2 with a malformed size or stride")
    return Tensor(storage, storage_offset, size, stride)


# The only globals a pickle may name, and what it gets for them.
ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch", "FloatStorage"): FloatStorage,
}


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise PthError("refused: the pickle names %s.%s, which is not one of the globals that rebuild float "
                           "tensors (%s)" % (module, name, ", ".join("%s.%s" % k for k in ALLOWED))) from None

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, element count, view metadata)
        if (not isinstance(pid, tuple) or len(pid) != 6 or pid[0] != "storage" or pid[1] is not FloatStorage
                or not isinstance(pid[2], str) or not isinstance(pid[4], int) or pid[4] < 0):
            raise PthError("unsupported persistent id %r (only float32 storages are read)" % (pid,))
        if pid[5] is not None:
            raise PthError("storage %s: storage views (legacy view metadata) are not supported" % pid[2])
        key, numel = pid[2], pid[4]
        if key in self.storages:
            if self.storages[key].numel != numel:
                raise PthError("storage %s named with two sizes" % key)
        else:
            self.storages[key] = Storage(key, numel)
        return self.storages[key]


def _load_one(f, storages, what):
    try:
        return RestrictedUnpickler(f, storages).load()
    except PthError:
        raise
    except Exception as e:          # a malformed pickle: EOF, bad opcode, wrong arguments
        raise PthError("%s: not a readable pickle (%s: %s)" % (what, type(e).__name__, e)) from None


def loads(data):
    """(state dict {name: float32 array}, info) from the bytes of a legacy torch.save file."""
    f = io.BytesIO(data)
    storages = {}
    if data[:2] == b"PK":
        raise PthError("a zip-format torch.save file; only the legacy format is read")
    if _load_one(f, storages, "magic number") != MAGIC_NUMBER:
        raise PthError("not a legacy torch.save file (wrong magic number)")
    version = _load_one(f, storages, "protocol version")
    if version != PROTOCOL_VERSION:
        raise PthError("legacy protocol version %r; %d is read" % (version, PROTOCOL_VERSION))
    sys_info = _load_one(f, storages, "system information")
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise PthError("not saved on a little-endian machine (system information %r)" % (sys_info,))
    obj = _load_one(f, storages, "the saved object")
    keys = _load_one(f, storages, "the storage keys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or set(keys) != set(storages):
        raise PthError("the storage key list does not match the storages the object uses")
    for key in keys:
        head = f.read(COUNT.size)
        if len(head) != COUNT.size:
            raise PthError("storage %s: truncated record" % key)
        (numel,) = COUNT.unpack(head)
        st = storages[key]
        if numel != st.numel or st.data is not None:
            raise PthError("storage %s: record of %d elements, the pickle says %d" % (key, numel, st.numel))
        st.data = f.read(numel * FLOAT_BYTES)
        if len(st.data) != numel * FLOAT_BYTES:
            raise PthError("storage %s: truncated data" % key)
    if f.read(1):
        raise PthError("trailing bytes after the last storage record")
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        info = {k: v for k, v in obj.items() if k != "model" and isinstance(v, (int, float, str))}
        obj = obj["model"]
    else:
        info = {}
    if not isinstance(obj, dict):
        raise PthError("the saved object is not a state dict")
    state = collections.OrderedDict()
    for name, t in obj.items():
        if not isinstance(name, str) or not isinstance(t, Tensor):
            raise PthError("state dict entry %r is not a float tensor" % (name,))
        state[name] = t.array()
    info["keys"] = keys
    return state, info


def load(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise PthError("%s: cannot read: %s" % (path, e.strerror or e)) from None
    try:
        return loads(data)
    except PthError as e:
        raise PthError("%s: %s" % (path, e)) from None
