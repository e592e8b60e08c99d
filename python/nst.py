"""nst: neural style transfer from Python, on the nst library (libnst.so.0) through ctypes.

Standard library only; numpy arrays and PIL images are taken (and given back) where those are
installed, else (bytes, width, height) tuples of 8-bit RGB.

    import nst
    photo = nst.load("photo.jpg")                      # numpy [H][W][3] uint8 (or bytes, w, h)
    out = nst.stylize(photo, model="candy")            # a trained network, one pass
    out = nst.stylize(photo, painting, model="arbitrary")   # any painting, one pass
    out = nst.stylize(photo, painting, size=256, iterations=100,
                      progress=lambda p: print(p.step, p.loss))   # the optimization
    nst.save("out.png", out)

Failures raise nst.Error, carrying the library's status (.status, .status_name) and its one-line
diagnostic (.message).  The networks are found by name in the folders the command line searches, in
its order (nst info lists them): for a one-pass network $NST_STYLES, then styles/ beside the nst
program, ../share/nst/styles from it and the data directory's styles/; for the optimization's
weights $NST_WEIGHTS, else vgg19-distilled.nstw then vgg19.nstw beside the program, in
../share/nst from it and in the data directory.  "The program" is the installed one (BINDIR) for
an installed module, build/nst for the source tree's python/nst.py.  The library: $NST_LIBRARY,
else the install's LIBDIR (installed module) or the source tree's build/ (python/nst.py beside
include/nst.h), else libnst.so.0 through the system loader; never another relative folder.  A
library whose major.minor differs from this module's is refused (the structures are copied here).
"""

import ctypes
import os
import signal
import threading

__all__ = ["Error", "Progress", "stylize", "load", "save", "find_network", "OPTIMIZE", "TRAINED", "ARBITRARY"]

__version__ = "0.2.0"  # NST_VERSION_STRING of the include/nst.h this module's structures copy
OPTIMIZE, TRAINED, ARBITRARY = 0, 1, 2  # enum nst_mode
_ARCH_MODES = {1: OPTIMIZE, 2: TRAINED, 3: ARBITRARY}  # enum nst_arch -> enum nst_mode
_HERE = os.path.dirname(os.path.abspath(__file__))
# make install replaces the next line with the install's directories (toolchains/install.mk): the
# module then uses them, under the root it sits in (a DESTDIR staging), only when it is the file
# installed in its python folder.  In the source tree (None) it uses ../build when ../include/nst.h
# is beside it.  Nothing else relative to this file is searched.
_INSTALL_DIRS = None


def _locations():
    """(the library's folder or None, the folder of the nst program, the data directory)."""
    if _INSTALL_DIRS:
        python = os.path.normpath(_INSTALL_DIRS["python"])
        if python.startswith(os.sep) and _HERE.endswith(python):  # python is absolute: a whole-folder match
            root = _HERE[:len(_HERE) - len(python)]
            return root + _INSTALL_DIRS["lib"], root + _INSTALL_DIRS["bin"], _INSTALL_DIRS["data"]
        return None, _INSTALL_DIRS["bin"], _INSTALL_DIRS["data"]
    tree = os.path.dirname(_HERE)
    if os.path.isfile(os.path.join(tree, "include", "nst.h")):
        build = os.path.join(tree, "build")
        try:  # the data directory the source tree's nst was compiled with (the Makefile's stamp)
            with open(os.path.join(build, "datadir.stamp")) as f:
                data = f.read().strip() or "/usr/local/share/nst"
        except OSError:
            data = "/usr/local/share/nst"
        return build, build, data
    return None, None, "/usr/local/share/nst"


_LIBDIR, _BINDIR, _DATADIR = _locations()


class _Image(ctypes.Structure):  # struct nst_image
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("rgb", ctypes.POINTER(ctypes.c_uint8))]


class _Diag(ctypes.Structure):  # struct nst_diag
    _fields_ = [("message", ctypes.c_char * 512)]


class _Request(ctypes.Structure):  # struct nst_image_request
    _fields_ = [("long_side", ctypes.c_int), ("max_bytes", ctypes.c_size_t), ("width", ctypes.c_int),
                ("height", ctypes.c_int)]


class Progress(ctypes.Structure):
    """What the progress callback gets (struct nst_stylize_progress): scale, n_scales, step of
    iterations (the scale's optimizer steps so far and planned: a progress bar's), iteration (the
    loss-log row: L-BFGS evaluates several rows in some steps), loss (the optimization's total loss;
    0 after a one-pass run), seconds."""
    _fields_ = [("scale", ctypes.c_int), ("n_scales", ctypes.c_int), ("iteration", ctypes.c_int),
                ("iterations", ctypes.c_int), ("loss", ctypes.c_double), ("seconds", ctypes.c_double),
                ("step", ctypes.c_int)]


_PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.POINTER(Progress))


class _Options(ctypes.Structure):  # struct nst_stylize_options
    _fields_ = [("mode", ctypes.c_int), ("weights", ctypes.c_char_p), ("size", ctypes.c_int),
                ("style_size", ctypes.c_int), ("iterations", ctypes.c_int), ("threads", ctypes.c_int),
                ("strength", ctypes.c_float), ("progress", _PROGRESS_FN), ("user", ctypes.c_void_p)]


def _load_library():
    candidates = [os.environ.get("NST_LIBRARY"), os.path.join(_LIBDIR, "libnst.so.0") if _LIBDIR else None,
                  "libnst.so.0"]
    errors = []
    for path in candidates:
        if not path or (os.sep in path and not os.path.exists(path)):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append(str(e))
            continue
        try:
            version_fn = lib.nst_version_string
        except AttributeError:
            raise ImportError("nst: %s is older than nst 0.2 (no nst_version_string); this module is %s"
                              % (path, __version__))
        version_fn.restype = ctypes.c_char_p
        version = version_fn().decode(errors="replace")
        if version.split(".")[:2] != __version__.split(".")[:2]:
            raise ImportError("nst: %s is nst %s; this module is for %s (major.minor must match)"
                              % (path, version, __version__))
        return lib
    raise ImportError("nst: cannot load libnst.so.0 (set NST_LIBRARY, or install nst): " + "; ".join(errors or ["not found"]))


_lib = _load_library()
_lib.nst_status_string.restype = ctypes.c_char_p
_lib.nst_status_string.argtypes = [ctypes.c_int]
_lib.nst_stylize_options_default.argtypes = [ctypes.POINTER(_Options)]
_lib.nst_stylize.argtypes = [ctypes.POINTER(_Options), ctypes.POINTER(_Image), ctypes.POINTER(_Image),
                             ctypes.POINTER(_Image), ctypes.POINTER(_Diag)]
_lib.nst_image_free.argtypes = [ctypes.POINTER(_Image)]
_lib.nst_image_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(_Image), ctypes.POINTER(_Diag)]
_lib.nst_image_load_for.argtypes = [ctypes.c_char_p, ctypes.POINTER(_Request), ctypes.POINTER(_Image),
                                    ctypes.POINTER(_Diag)]
_lib.nst_image_save.argtypes = [ctypes.c_char_p, ctypes.POINTER(_Image), ctypes.c_int, ctypes.POINTER(_Diag)]
_lib.nst_weights_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_Diag)]
_lib.nst_weights_arch.argtypes = [ctypes.c_void_p]
_lib.nst_weights_close.argtypes = [ctypes.c_void_p]


class Error(Exception):
    """A failure of the library: status (enum nst_status), status_name and the one-line message."""

    def __init__(self, status, message):
        self.picture = None  # nst.stylize stopped by its progress callback: the picture so far
        self.status = status
        self.status_name = _lib.nst_status_string(status).decode()
        self.message = message
        super().__init__("%s: %s" % (self.status_name, message) if message else self.status_name)


def _check(status, diag):
    if status != 0:
        raise Error(status, diag.message.decode(errors="replace"))


# --- pictures: numpy arrays, PIL images or (bytes, width, height) ---------------------------------

def _kind(picture):
    module = type(picture).__module__
    if module.startswith("numpy"):
        return "numpy"
    if module.startswith("PIL."):
        return "pil"
    if isinstance(picture, tuple) and len(picture) == 3:
        return "bytes"
    raise TypeError("nst: a picture is a numpy array [H][W][3] uint8, a PIL image or (bytes, width, height), not %r"
                    % type(picture).__name__)


def _to_c(picture):
    """(struct nst_image, the buffer it points into: keep it alive while the image is used)."""
    kind = _kind(picture)
    if kind == "numpy":
        import numpy
        a = numpy.asarray(picture)
        if a.ndim == 2:
            a = numpy.stack([a] * 3, axis=-1)
        if a.ndim != 3 or a.shape[2] not in (3, 4):
            raise ValueError("nst: a numpy picture is [H][W][3] (or [H][W][4], [H][W]); got shape %s" % (a.shape,))
        if a.dtype != numpy.uint8:
            raise ValueError("nst: a numpy picture is uint8 0..255; got %s (use (x * 255).round().astype('uint8'))" % a.dtype)
        a = numpy.ascontiguousarray(a[:, :, :3])
        height, width = a.shape[:2]
        return _Image(width, height, a.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))), a
    if kind == "pil":
        rgb = picture.convert("RGB")
        data, width, height = rgb.tobytes(), rgb.width, rgb.height
    else:
        data, width, height = picture
        data = bytes(data)
        if len(data) != width * height * 3:
            raise ValueError("nst: %d bytes are not %dx%d RGB pixels" % (len(data), width, height))
    buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
    return _Image(width, height, ctypes.cast(buf, ctypes.POINTER(ctypes.c_uint8))), buf


def _from_c(image, kind):
    """A copy of a library picture as the kind asked for; the library's is freed."""
    try:
        data = ctypes.string_at(image.rgb, image.width * image.height * 3)
        width, height = image.width, image.height
    finally:
        _lib.nst_image_free(ctypes.byref(image))
    if kind == "numpy":
        import numpy
        return numpy.frombuffer(data, dtype=numpy.uint8).reshape(height, width, 3).copy()
    if kind == "pil":
        from PIL import Image
        return Image.frombytes("RGB", (width, height), data)
    return data, width, height


def _default_kind():
    try:
        import numpy  # noqa: F401
        return "numpy"
    except ImportError:
        return "bytes"


def load(path, kind=None, size=0):
    """Decodes a picture file (PNG, JPEG, BMP, ...) with the library: a numpy array when numpy is
    installed (kind="numpy", "pil" or "bytes" to choose).
    size: the long side of the run the picture is for (stylize's size; for a painting, its style
    size): a picture 4 times larger or more is then decoded reduced, as the command line decodes it
    (faster, less memory); 0 decodes it whole.  With it, stylize gives the command line's pixels
    exactly when the photo is smaller than 4 times size (the command line fits the result from a
    larger photo's own size, a rounding apart); without it, wherever a picture is that large, the
    result differs from the command line's by a few levels (more after many iterations)."""
    if kind not in (None, "numpy", "pil", "bytes"):
        raise ValueError("nst.load: kind is 'numpy', 'pil' or 'bytes', not %r" % (kind,))
    image, diag = _Image(), _Diag()
    if size:
        request = _Request(size, 0, 0, 0)
        _check(_lib.nst_image_load_for(os.fsencode(path), ctypes.byref(request), ctypes.byref(image),
                                       ctypes.byref(diag)), diag)
    else:
        _check(_lib.nst_image_load(os.fsencode(path), ctypes.byref(image), ctypes.byref(diag)), diag)
    return _from_c(image, kind or _default_kind())


def save(path, picture, quality=90):
    """Writes a picture by the path's extension (.png, .jpg, .bmp, .tga), atomically."""
    image, keep = _to_c(picture)
    diag = _Diag()
    _check(_lib.nst_image_save(os.fsencode(path), ctypes.byref(image), quality, ctypes.byref(diag)), diag)
    del keep


# --- networks -------------------------------------------------------------------------------------

def _data_dirs(styles):
    """The folders the nst program searches (src/cli/find.c's cli_data_dirs), in its order."""
    if styles:
        dirs = [os.environ.get("NST_STYLES")]
        if _BINDIR:
            dirs += [os.path.join(_BINDIR, "styles"), os.path.join(_BINDIR, "..", "share", "nst", "styles")]
        return [d for d in dirs if d] + [os.path.join(_DATADIR, "styles")]
    dirs = [_BINDIR, os.path.join(_BINDIR, "..", "share", "nst")] if _BINDIR else []
    return dirs + [_DATADIR]


def find_network(name=None):
    """The path of a network by name ("candy", "arbitrary" or "any", "vgg19"), or of the optimization's
    default (None: $NST_WEIGHTS, else vgg19-distilled, else vgg19); a path is returned as it is."""
    if name is None and os.environ.get("NST_WEIGHTS"):  # as the program: used as it is
        return os.environ["NST_WEIGHTS"]
    if name == "any":  # nst --model any, as the command line takes it
        name = "arbitrary"
    if name is not None and (os.sep in name or name.endswith(".nstw")):
        return name
    names = [name] if name else ["vgg19-distilled", "vgg19"]
    dirs = _data_dirs(True) + _data_dirs(False) if name else _data_dirs(False)
    for n in names:
        for d in dirs:
            path = os.path.join(d, n + ".nstw")
            if os.path.exists(path):
                return path
    raise Error(1, "no network %s in %s" % (name or "vgg19-distilled / vgg19", ", ".join(dirs)))


def _mode_of(path):
    handle, diag = ctypes.c_void_p(), _Diag()
    _check(_lib.nst_weights_open(os.fsencode(path), ctypes.byref(handle), ctypes.byref(diag)), diag)
    arch = _lib.nst_weights_arch(handle)
    _lib.nst_weights_close(handle)
    return _ARCH_MODES.get(arch, OPTIMIZE)


def stylize(photo, painting=None, model=None, size=0, style_size=0, iterations=0, threads=0, strength=1.0,
            progress=None):
    """Stylizes photo; returns a new picture of the photo's kind.

    model: a network's name or .nstw path; what it is decides the mode: a VGG network (None: the
    default, found as nst finds it) runs the optimization with painting, a trained network
    ("candy") one pass without painting, "arbitrary" one pass with painting.
    size: the result's long side (0: 256 for the optimization, the photo's own for one pass);
    style_size: arbitrary, the painting's long side (0: the result's); iterations: the
    optimization's first scale (0: 300); threads: 0 for every usable CPU; strength: one pass, 0..1,
    strength * stylized + (1 - strength) * photo.
    progress(Progress) is called after every loss-log row of the optimization (and once after a
    one-pass run); returning False stops the optimization (nst.Error with status "interrupted",
    the picture so far in its .picture).  Ctrl-C (SIGINT, in the main thread, under Python's own
    handler) stops it at the next row as well and raises KeyboardInterrupt, the picture so far in
    its .picture.
    The same options give the command line's pixels (nst -c -s --size --threads -n, nst --model)
    for pictures loaded with nst.load(path, size=size) (see there: a photo 4 times size or more
    can differ by a rounding)."""
    path = find_network(model)
    mode = _mode_of(path)
    if mode != TRAINED and painting is None:
        raise ValueError("nst: %s needs a painting" % ("the optimization" if mode == OPTIMIZE else "the arbitrary-style network"))
    if mode == TRAINED and painting is not None:
        raise ValueError("nst: %s is a trained network: it takes no painting" % path)
    kind = _kind(photo)
    options = _Options()
    _lib.nst_stylize_options_default(ctypes.byref(options))
    options.mode, options.weights = mode, os.fsencode(path)
    options.size, options.style_size, options.iterations = size, style_size, iterations
    options.threads, options.strength = threads, strength
    failure, interrupted = [], []

    def call(user, p):  # every loss row: the user's progress, and Ctrl-C seen
        if interrupted:
            return False
        try:
            return progress is None or progress(p.contents) is not False
        except BaseException as e:  # stop the run, raise it afterwards
            failure.append(e)
            return False
    options.progress = _PROGRESS_FN(call)
    c_photo, keep_photo = _to_c(photo)
    c_painting, keep_painting = _to_c(painting) if painting is not None else (None, None)
    out, diag = _Image(), _Diag()
    # Python raises KeyboardInterrupt only between its own bytecodes: inside a ctypes callback it is
    # "ignored", so the run went on.  While the library runs, SIGINT is noted instead (in the main
    # thread, when Python's own handler is in place) and stops the run at its next row.
    take_sigint = (threading.current_thread() is threading.main_thread() and
                   signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if take_sigint:
        signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    try:
        status = _lib.nst_stylize(ctypes.byref(options), ctypes.byref(c_photo),
                                  ctypes.byref(c_painting) if c_painting is not None else None, ctypes.byref(out),
                                  ctypes.byref(diag))
    finally:
        if take_sigint:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    del keep_photo, keep_painting
    result = _from_c(out, kind) if out.rgb else None
    if failure:
        raise failure[0]
    if interrupted:
        stop = KeyboardInterrupt()
        stop.picture = result  # the picture so far
        raise stop
    if status != 0:
        error = Error(status, diag.message.decode(errors="replace"))
        error.picture = result  # the picture so far after a stop (None after another failure)
        raise error
    if result is None:
        raise Error(1, "nst_stylize succeeded but gave no picture")
    return result
