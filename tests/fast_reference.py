"""The feed-forward reference outputs for the test scripts, in one Python process.

usage: fast_reference.py SHARED DIR JOB...   JOB = MODEL:PICTURE[:SOURCE]

Runs ../shared/reference/torch_fast.py's load / forward (float32, 2 threads) on DIR/SOURCE.png
(SOURCE defaults to PICTURE) and writes DIR/ref-MODEL-PICTURE.f32 (the raw output, float32 RGB
[H][W][3]) and DIR/ref-MODEL-PICTURE.png (rounded and clamped), each network loaded once.
"""
import sys

shared, out, jobs = sys.argv[1], sys.argv[2], [j.split(":") for j in sys.argv[3:]]
sys.path.insert(0, f"{shared}/reference")
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
import torch_fast  # noqa: E402

torch.set_num_threads(2)
layers = {}
for job in jobs:
    model, picture = job[0], job[1]
    source = job[2] if len(job) > 2 else picture
    if model not in layers:
        layers[model] = torch_fast.load(f"{shared}/fast-styles/{model}.bin")
    img = np.asarray(Image.open(f"{out}/{source}.png").convert("RGB"), dtype=np.float32)
    x = torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).contiguous()
    with torch.no_grad():
        y = torch_fast.forward(x, layers[model])[0].permute(1, 2, 0).contiguous().numpy()
    y.astype("<f4").tofile(f"{out}/ref-{model}-{picture}.f32")
    Image.fromarray(np.clip(np.rint(y), 0, 255).astype(np.uint8)).save(f"{out}/ref-{model}-{picture}.png")
