"""The official YOLOv7-seg training step in PyTorch, timed: for `bench:engine --yolov7 PATH`.

    python3 bench/official_torch.py PATH/TO/yolov7-u7-seg WIDTH BATCH THREADS SIZE [SIZE ...]

Builds models/segment/yolov7-seg.yaml at `width_multiple` WIDTH with 3 classes (run in place
from PATH; its optional imports are stubbed as in scripts/official-fixtures.py), and times
one training step: forward in train mode, the official ComputeLoss (utils/segment/loss.py,
overlap=False, hyp.scratch-high's gains scaled as segment/train.py scales them) on fixed
synthetic targets (eight boxes per image with elliptical masks at image resolution, which
the loss downsamples as in training), backward, and Nesterov SGD, with THREADS intra-op
threads (Debian's torch defaults to one). Prints JSON: median, min and max ms per size.
"""
import contextlib
import io
import json
import statistics
import sys
import time
from pathlib import Path

here = Path(__file__).resolve().parent
src = (here.parent / 'scripts' / 'official-fixtures.py').read_text()
# The fixtures script finds official_shims beside itself through its __file__, which is this
# file's inside exec: put scripts/ on the path first.
sys.path.insert(0, str(here.parent / 'scripts'))
exec(src[:src.index('official = Path')])  # the import stubs only
official = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(official))

import torch  # noqa: E402
import yaml  # noqa: E402
from models.yolo import SegmentationModel  # noqa: E402
from utils.segment.loss import ComputeLoss  # noqa: E402

width, batch, threads, sizes = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), [int(s) for s in sys.argv[5:]]
torch.set_num_threads(threads)
repeats = 3
cfg = yaml.safe_load((official / 'models' / 'segment' / 'yolov7-seg.yaml').read_text())
cfg['width_multiple'], cfg['nc'] = width, 3
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    model = SegmentationModel(cfg, ch=3, nc=3)
model.train()
out = {'params': sum(p.numel() for p in model.parameters()), 'threads': torch.get_num_threads(), 'version': torch.__version__}
opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.937, nesterov=True)
torch.manual_seed(0)
for size in sizes:
    nl, nc = 3, 3
    model.hyp = {'box': 0.05 * 3 / nl, 'cls': 0.3 * nc / 80 * 3 / nl, 'obj': 0.7 * (size / 640) ** 2 * 3 / nl, 'anchor_t': 4.0,
                 'cls_pw': 1.0, 'obj_pw': 1.0, 'fl_gamma': 0.0, 'label_smoothing': 0.0}
    loss_fn = ComputeLoss(model, overlap=False)
    x = torch.rand(batch, 3, size, size)
    rows, masks = [], []
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing='ij')
    for b in range(batch):
        for k in range(8):
            cx, cy, w, h = 0.1 + 0.1 * k, 0.15 + 0.09 * k, 0.05 + 0.02 * k, 0.06 + 0.015 * k
            rows.append([b, k % 3, cx, cy, w, h])
            masks.append((((xx / size - cx) / (w / 2)) ** 2 + ((yy / size - cy) / (h / 2)) ** 2 <= 1).float())
    targets, masks = torch.tensor(rows), torch.stack(masks)

    def step():
        opt.zero_grad()
        loss, _ = loss_fn(model(x), targets, masks)
        loss.backward()
        opt.step()

    step()
    step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1000)
    out[str(size)] = {'train': statistics.median(times), 'min': min(times), 'max': max(times)}
print(json.dumps(out))
