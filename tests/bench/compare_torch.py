#!/usr/bin/python3
"""nst beside the PyTorch references, same settings and threads, in one run.

For each size: the seconds per iteration (median over the timed iterations, after the first),
the peak RSS of each process, and the loss both reach after the same number of iterations
(speed compared at equal quality); then the ratios.  nst runs one scale (--scales SIZE), as the
reference does.  The pictures are resized once with PIL to
the exact size, so neither side resamples.  Each run is its own child process, so its peak RSS
is its own (os.wait4).

  /usr/bin/python3 tests/bench/compare_torch.py [--sizes 256,512] [--threads 2] [--iterations 20]
      [--optimizer lbfgs|adam] [--backends simd,xnnpack] [--networks blocks,distilled] [--markdown FILE]
      [--fast candy] [--fast-sizes 256,512] [--fast-runs 5]

--networks: blocks is VGG19 blocks 1-3 (build/vgg19.nstw; torch_nst.py on the TensorFlow.js
folder) with its defaults; distilled is the distilled VGG19 (build/vgg19-distilled.nstw; torch_nst.py
--weights .../encoder5_16x.pth) with its defaults given explicitly to both sides (DISTILLED_OPTIONS).
With both, each distilled nst row also gets its ratio to the same backend's blocks 1-3 row.

The feed-forward mode beside torch_fast.py and OpenCV's DNN module (python3-opencv; make compare
installs it): milliseconds per picture (median of --fast-runs after a warm-up, in one process each:
nst --model --bench in fp32 and with --precision int8, torch_fast.forward in a loop, and
cv2.dnn's forward in a loop on the same
network exported to ONNX from torch_fast.py at run time, with cv2.setNumThreads(--threads)), each
process's peak RSS, the speed-ups over torch and over OpenCV, and OpenCV's output against torch's
(relative L2).  Where OpenCV cannot run (no cv2, the export fails), its row says why and the rest
runs.  --fast none skips it; --sizes none skips the optimization.
"""
import argparse, csv, json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(cmd, env=None, check=True):
    """Runs cmd; returns (seconds, peak RSS in MiB, stdout+stderr).  When it fails: exits, or with
    check=False returns (None, peak RSS, stdout+stderr)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    out = p.stdout.read().decode(errors="replace")
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        if not check:
            return None, ru.ru_maxrss / 1024.0, out
        sys.exit("compare_torch: %s failed:\n%s" % (" ".join(cmd), out[-2000:]))
    return time.perf_counter() - t0, ru.ru_maxrss / 1024.0, out


def log_stats(path, warmup=1):
    rows = list(csv.DictReader(open(path)))
    t = [float(r["seconds"]) for r in rows]
    # Row k's time stamp is taken after evaluation k; iteration k spans rows k-1 .. k.  The last
    # row is a forward pass only (both sides), so it is left out.
    steps = [t[i + 1] - t[i] for i in range(warmup, len(t) - 2)]
    return statistics.median(steps), min(steps), max(steps), float(rows[-1]["total"])


# The distilled network's defaults (nst info build/vgg19-distilled.nstw), given to both sides.
DISTILLED_OPTIONS = ["--content-layers", "relu3_1", "--style-layers", "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
                     "--style-layer-weights", "4096,16384,65536,262144,262144", "--content-weight", "10000",
                     "--style-weight", "100000", "--tv-weight", "1e-05"]
# CONVENTIONS.md's loss on blocks 1-3 (the reference's defaults; the .nstw's own differ), both sides.
BLOCKS_OPTIONS = ["--content-layers", "relu3_2", "--style-layers", "relu1_1,relu2_1,relu3_1", "--content-weight", "5",
                  "--style-weight", "100", "--tv-weight", "1e-3"]
# The reference's optimizer on nst's side: no line search, every iteration (equal work per row).
NST_REFERENCE_OPTIMIZER = ["--line-search", "none", "--tolerance", "0"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--optimizer", default="lbfgs", choices=["lbfgs", "adam"])
    ap.add_argument("--backends", default="simd,xnnpack")
    ap.add_argument("--networks", default="blocks,distilled", help="blocks, distilled or both, comma-separated")
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--markdown", default=None, help="also write the tables as Markdown")
    ap.add_argument("--fast", default="candy", help="feed-forward models to time, comma-separated, or none")
    ap.add_argument("--fast-sizes", default="256,512")
    ap.add_argument("--fast-runs", type=int, default=5)
    a = ap.parse_args()
    from PIL import Image

    nst = os.path.join(a.build, "nst")
    ref = os.path.join(a.shared, "reference", "torch_nst.py")
    # network: (nst weights, torch_nst.py weights, options for both)
    networks = {
        "blocks": (os.path.join(a.build, "vgg19.nstw"), os.path.join(a.shared, "weights", "vgg19-imagenet-blocks1-3"),
                   BLOCKS_OPTIONS),
        "distilled": (os.path.join(a.build, "vgg19-distilled.nstw"),
                      os.path.join(a.shared, "weights", "vgg19-distilled-16x", "encoder5_16x.pth"), DISTILLED_OPTIONS),
    }
    chosen = [] if a.sizes == "none" else a.networks.split(",")
    for name in chosen:
        if name not in networks:
            sys.exit("compare_torch: unknown network %s (blocks, distilled)" % name)
    for f in [nst, ref] + [f for name in chosen for f in networks[name][:2]]:
        if not os.path.exists(f):
            sys.exit("compare_torch: missing %s (run make and make weights)" % f)
    tmp = tempfile.mkdtemp(prefix="nst-compare-")
    lines = ["machine: %s, %d threads, load average %s" % (cpu_name(), a.threads, load_average()), ""]
    table = [("size", "network", "engine", "s/iteration [min, max]", "ratio", "peak RSS MiB", "ratio",
              "loss after %d" % a.iterations, "vs torch", "vs blocks 1-3")]
    for size in ([] if a.sizes == "none" else [int(s) for s in a.sizes.split(",")]):
        content, style = os.path.join(tmp, "c%d.png" % size), os.path.join(tmp, "s%d.png" % size)
        for src, dst in (("astronaut.png", content), ("starry_night.jpg", style)):
            im = Image.open(os.path.join(a.shared, "images", src)).convert("RGB")
            s = size / max(im.size)
            im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.BICUBIC).save(dst)
        common_ref = ["--content", content, "--style", style, "--size", str(size), "--optimizer", a.optimizer,
                      "--iterations", str(a.iterations), "--threads", str(a.threads)]
        blocks_med = {}  # backend -> nst's s/iteration on blocks 1-3 at this size
        for name in chosen:
            weights, tweights, options = networks[name]
            tlog = os.path.join(tmp, "torch%d-%s.csv" % (size, name))
            _, trss, _ = run(["/usr/bin/python3", ref, "--weights", tweights, "--log", tlog] + common_ref + options)
            tmed, tmin, tmax, tloss = log_stats(tlog)
            table.append((size, name, "torch_nst.py", "%.3f [%.3f, %.3f]" % (tmed, tmin, tmax), "1", "%.0f" % trss, "1",
                          "%.6g" % tloss, "", ""))
            for be in a.backends.split(","):
                nlog = os.path.join(tmp, "nst%d-%s-%s.csv" % (size, name, be))
                _, nrss, out = run([nst, "-c", content, "-s", style, "-o", os.path.join(tmp, "o.png"), "--weights",
                                    weights, "--scales", str(size), "--optimizer", a.optimizer, "-n", str(a.iterations),
                                    "--threads", str(a.threads), "--backend", be, "--log", nlog, "-q"] + options +
                                   NST_REFERENCE_OPTIMIZER)
                nmed, nmin, nmax, nloss = log_stats(nlog)
                if name == "blocks":
                    blocks_med[be] = nmed
                table.append((size, name, "nst " + be, "%.3f [%.3f, %.3f]" % (nmed, nmin, nmax), "%.2f" % (nmed / tmed),
                              "%.0f" % nrss, "%.2f" % (nrss / trss), "%.6g" % nloss,
                              "%+.2f%%" % (100 * (nloss / tloss - 1)),
                              "%.2f" % (nmed / blocks_med[be]) if name != "blocks" and be in blocks_med else ""))
    if len(table) > 1:
        lines += fmt(table)
    if a.fast != "none":
        lines += ["", "feed-forward, %d threads, median of %d after a warm-up:" % (a.threads, a.fast_runs), ""]
        lines += fmt(compare_fast(a, nst, tmp))
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        open(a.markdown, "w").write(text + "\n")


# torch_fast.forward timed in a loop, in its own process (so that its peak RSS is its own).
TORCH_FAST_TIMER = """
import statistics, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np, torch
from PIL import Image
import torch_fast
torch.set_num_threads(int(sys.argv[4]))
layers = torch_fast.load(sys.argv[2])
x = torch.from_numpy(np.asarray(Image.open(sys.argv[3]).convert("RGB"), dtype=np.float32)).permute(2, 0, 1)[None]
times = []
with torch.no_grad():
    torch_fast.forward(x.contiguous(), layers)
    for _ in range(int(sys.argv[5])):
        t0 = time.perf_counter(); torch_fast.forward(x.contiguous(), layers); times.append(time.perf_counter() - t0)
print("median_ms %.3f" % (1000 * statistics.median(times)))
"""


# torch_fast.py's network exported to ONNX (torch.onnx.export: the onnx package is not needed), and
# its raw output on the photo (float32, 1 x 3 x H x W) for OpenCV's to be compared with.
ONNX_EXPORTER = """
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, torch
from PIL import Image
import torch_fast
layers = torch_fast.load(sys.argv[2])
x = torch.from_numpy(np.asarray(Image.open(sys.argv[3]).convert("RGB"), dtype=np.float32)).permute(2, 0, 1)[None]
x = x.contiguous()
class Network(torch.nn.Module):
    def forward(self, x):
        return torch_fast.forward(x, layers)
with torch.no_grad():
    torch_fast.forward(x, layers).numpy().astype("<f4").tofile(sys.argv[5])
    torch.onnx.export(Network(), x, sys.argv[4], opset_version=11)
"""

# OpenCV's DNN module on that ONNX file timed in a loop, in its own process; then its output
# against torch's (relative L2).
OPENCV_TIMER = """
import statistics, sys, time
import numpy as np
from PIL import Image
import cv2
cv2.setNumThreads(int(sys.argv[3]))
net = cv2.dnn.readNetFromONNX(sys.argv[1])
blob = np.ascontiguousarray(np.asarray(Image.open(sys.argv[2]).convert("RGB"), dtype=np.float32).transpose(2, 0, 1)[None])
times = []
net.setInput(blob); y = net.forward()
for _ in range(int(sys.argv[4])):
    t0 = time.perf_counter(); net.setInput(blob); y = net.forward(); times.append(time.perf_counter() - t0)
ref = np.fromfile(sys.argv[5], "<f4").reshape(y.shape)
print("opencv %s median_ms %.3f rel_l2 %.3g" % (cv2.__version__, 1000 * statistics.median(times),
                                              np.linalg.norm(y - ref) / np.linalg.norm(ref)))
"""


def time_opencv(a, ref, binary, photo, tmp):
    """OpenCV's DNN module on torch_fast.py's network: (engine, ms, peak RSS, rel L2) or (None, why)."""
    import re
    onnx, raw = os.path.join(tmp, "fast.onnx"), os.path.join(tmp, "fast-torch.f32")
    secs, _, out = run(["/usr/bin/python3", "-c", ONNX_EXPORTER, ref, binary, photo, onnx, raw], check=False)
    if secs is None:
        return None, "ONNX export failed: " + last_line(out)
    secs, rss, out = run(["/usr/bin/python3", "-c", OPENCV_TIMER, onnx, photo, str(a.threads), str(a.fast_runs),
                          raw], check=False)
    os.remove(onnx)  # 6.7 MB a network; the temporary folder stays (its pictures and logs)
    m = re.search(r"opencv (\S+) median_ms ([0-9.]+) rel_l2 (\S+)", out)
    if secs is None or not m:
        return None, "OpenCV failed: " + last_line(out)
    return "OpenCV %s dnn" % m.group(1), float(m.group(2)), rss, float(m.group(3))


def last_line(out):
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    return lines[-1][:120] if lines else "no output"


def compare_fast(a, nst, tmp):
    from PIL import Image
    import re
    ref = os.path.join(a.shared, "reference")
    table = [("size", "model", "engine", "ms/picture", "speed-up", "peak RSS MiB", "ratio", "vs OpenCV",
              "output vs torch")]
    for size in [int(s) for s in a.fast_sizes.split(",")]:
        photo = os.path.join(tmp, "fast%d.png" % size)
        Image.open(os.path.join(a.shared, "images", "astronaut.png")).convert("RGB").resize(
            (size, size), Image.BICUBIC).save(photo)
        for model in a.fast.split(","):
            binary = os.path.join(a.shared, "fast-styles", model + ".bin")
            nstw = os.path.join(a.build, "styles", model + ".nstw")
            for f in (binary, nstw):
                if not os.path.exists(f):
                    sys.exit("compare_torch: missing %s (run make weights)" % f)
            _, trss, tout = run(["/usr/bin/python3", "-c", TORCH_FAST_TIMER, ref, binary, photo, str(a.threads),
                                 str(a.fast_runs)])
            tms = float(re.search(r"median_ms ([0-9.]+)", tout).group(1))
            ocv = time_opencv(a, ref, binary, photo, tmp)
            oms = ocv[1] if ocv[0] else None
            def vs_opencv(ms):
                return "%.2fx" % (oms / ms) if oms else ""
            table.append((size, model, "torch_fast.py", "%.1f" % tms, "1", "%.0f" % trss, "1", vs_opencv(tms), ""))
            if ocv[0]:
                engine, _, orss, rel = ocv
                table.append((size, model, engine, "%.1f" % oms, "%.2fx" % (tms / oms), "%.0f" % orss,
                              "%.2f" % (orss / trss), "1", "rel L2 %.2g" % rel))
            else:
                table.append((size, model, "OpenCV dnn", "n/a", "", "", "", "", ocv[1]))
            # nst in fp32, then --precision int8 (where the CPU has no int8 kernels nst says so and
            # runs fp32: the row says that instead of a figure)
            for precision in ("fp32", "int8"):
                _, nrss, nout = run([nst, "--model", nstw, "-c", photo, "-o", os.path.join(tmp, "fast-out.png"),
                                     "--threads", str(a.threads), "--bench", str(a.fast_runs), "--precision", precision])
                m = re.search(r"median ([0-9.]+) ms", nout)
                if not m:
                    sys.exit("compare_torch: nst --bench printed no median:\n" + nout[-2000:])
                nms = float(m.group(1))
                engine = "nst" if precision == "fp32" else "nst --precision int8"
                if precision == "int8" and "running in fp32" in nout:
                    table.append((size, model, engine, "n/a", "", "", "", "", "no int8 kernels on this CPU"))
                    continue
                table.append((size, model, engine, "%.1f" % nms, "%.2fx" % (tms / nms), "%.0f" % nrss,
                              "%.2f" % (nrss / trss), vs_opencv(nms), ""))
    return table


def load_average():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "unknown"


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def fmt(table):
    widths = [max(len(str(r[i])) for r in table) for i in range(len(table[0]))]
    out = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |" for r in table]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return out


if __name__ == "__main__":
    main()
