#!/usr/bin/env python3
"""A loss fixture from the official YOLOv7-seg `utils/segment/loss.py` (run once; the tests need no Python).

    python3 scripts/official-loss-case.py PATH/TO/yolov7-u7-seg test/fixtures/official/loss.json

Fixed random head outputs and prototypes of a 64 px batch of 2 (3 classes, 32 masks), eight
targets with 0/1 masks at prototype resolution (so the official code does not resample them),
the hyperparameters our defaults claim (hyp.scratch-high's box 0.05, cls 0.3 * nc / 80, obj
0.7 * (imgsz / 640)^2, anchor_t 4, no focal loss, no label smoothing, pos_weight 1): the four
official terms, the total, and the gradient of the total with respect to every head output.
"""
import base64
import json
import sys
from pathlib import Path

src = (Path(__file__).parent / 'official-fixtures.py').read_text()
exec(src[:src.index('official = Path')])  # the import stubs for the official code's optional packages
official = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(official))

import contextlib, io  # noqa: E401,E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from models.yolo import SegmentationModel  # noqa: E402
from utils.segment.loss import ComputeLoss  # noqa: E402

cfg = yaml.safe_load((official / 'models' / 'segment' / 'yolov7-seg.yaml').read_text())
cfg['width_multiple'], cfg['nc'] = 0.0625, 3
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    model = SegmentationModel(cfg, ch=3, nc=3)
nc, imgsz, bs, na, nm = 3, 64, 2, 3, 32
model.hyp = {'box': 0.05, 'cls': 0.3 * nc / 80, 'obj': 0.7 * (imgsz / 640) ** 2, 'anchor_t': 4.0,
             'cls_pw': 1.0, 'obj_pw': 1.0, 'fl_gamma': 0.0, 'label_smoothing': 0.0}
loss_fn = ComputeLoss(model, overlap=False)

g = torch.Generator().manual_seed(3)
no = 5 + nc + nm
heads = [(torch.randn((bs, na, imgsz // s, imgsz // s, no), generator=g) * 0.8).requires_grad_() for s in (8, 16, 32)]
proto = (torch.randn((bs, nm, imgsz // 4, imgsz // 4), generator=g) * 0.5).requires_grad_()
# Eight well-separated targets (no two share a cell and anchor, where the official write order would matter).
boxes = [(0, 0, 0.20, 0.25, 0.18, 0.22), (0, 1, 0.70, 0.30, 0.30, 0.12), (0, 0, 0.35, 0.75, 0.09, 0.15), (0, 2, 0.80, 0.80, 0.45, 0.40),
         (1, 0, 0.30, 0.30, 0.25, 0.30), (1, 0, 0.75, 0.20, 0.12, 0.10), (1, 1, 0.55, 0.70, 0.60, 0.35), (1, 2, 0.15, 0.85, 0.20, 0.20)]
targets = torch.tensor(boxes, dtype=torch.float32)
mh = mw = imgsz // 4
masks = torch.zeros((len(boxes), mh, mw))
for k, (_, _, cx, cy, w, h) in enumerate(boxes):
    yy, xx = torch.meshgrid(torch.arange(mh) + 0.5, torch.arange(mw) + 0.5, indexing='ij')
    inside = ((xx / mw - cx) / (w / 2)) ** 2 + ((yy / mh - cy) / (h / 2)) ** 2 <= 1  # an ellipse in its box
    noise = torch.rand((mh, mw), generator=g) < 0.1
    masks[k] = (inside ^ noise).float()
loss, parts = loss_fn((heads, proto), targets, masks)
loss.backward()


def enc(t):
    return {'shape': list(t.shape), 'f32': base64.b64encode(t.detach().float().numpy().astype('<f4').tobytes()).decode()}


lbox, lseg, lobj, lcls = [float(v) for v in parts]
Path(sys.argv[2]).write_text(json.dumps({
    'source': 'official yolov7-seg (u7) utils/segment/loss.py ComputeLoss(overlap=False)',
    'hyp': model.hyp, 'imgsz': imgsz, 'targets': boxes,
    'heads': [enc(h) for h in heads], 'proto': enc(proto), 'masks': enc(masks),
    'loss': {'box': lbox, 'seg': lseg, 'obj': lobj, 'cls': lcls, 'total': float(loss)},
    'grads': {'heads': [enc(h.grad) for h in heads], 'proto': enc(proto.grad)},
}))
print(f'wrote {sys.argv[2]}: box {lbox:.6f} seg {lseg:.6f} obj {lobj:.6f} cls {lcls:.6f} total {float(loss):.6f}')
