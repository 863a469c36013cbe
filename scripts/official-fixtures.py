#!/usr/bin/env python3
"""Fixtures from the official YOLOv7-seg code (run once; the tests need no Python).

    python3 scripts/official-fixtures.py PATH/TO/yolov7-u7-seg test/fixtures/official

Builds the official `models/segment/yolov7-seg.yaml` at width_multiple 0.0625 with 3 classes,
gives it seeded random weights and BN statistics (and non-zero ImplicitA/ImplicitM vectors),
and writes:
  - model.safetensors: its state dict in float32, as a plain state dict;
  - model-fp16.pt: the way segment/train.py saves, a pickled checkpoint dict whose `model`
    and `ema` are the whole model object in half precision (plus epoch, best_fitness as a
    numpy scalar, the options, an optimizer state);
  - state-dict.pt: torch.save(model.state_dict()) in float32;
  - io.json: an input batch and the official eval-mode raw outputs (the three detection
    convs, which ISegment applies after ImplicitA and without ImplicitM, and the prototypes),
    for the fp32 weights and for the fp16-rounded weights.
The official code runs in place from the path given; the optional packages it imports but
this script does not use (cv2, pandas, PIL, matplotlib, seaborn, torchvision, ...) are
stubbed here, not installed or edited there.
"""
import json
import struct
import sys
import types
from copy import deepcopy
from pathlib import Path


STUBBED = ('cv2', 'pandas', 'PIL', 'matplotlib', 'seaborn', 'torchvision', 'tqdm', 'scipy', 'thop', 'pycocotools', 'albumentations')


sys.path.insert(0, str(Path(__file__).resolve().parent))
from official_shims import install_stubs  # noqa: E402

install_stubs(STUBBED)

official = Path(sys.argv[1]).resolve()
out = Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
sys.path.insert(0, str(official))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from models.yolo import SegmentationModel  # noqa: E402

WIDTH = 0.0625  # small, so the fixtures stay small (channels bottom out at 8)
torch.manual_seed(7)
cfg = yaml.safe_load((official / 'models' / 'segment' / 'yolov7-seg.yaml').read_text())
cfg['width_multiple'] = WIDTH
cfg['nc'] = 3
model = SegmentationModel(cfg, ch=3, nc=3).eval()
g = torch.Generator().manual_seed(11)
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith('implicit'):
            p.copy_(torch.randn(p.shape, generator=g) * 0.2 + (1.0 if '.im.' in name else 0.0))
        elif p.dim() == 4:
            fan_in = p.shape[1] * p.shape[2] * p.shape[3]
            p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * 1.5 / fan_in ** 0.5)
        elif name.endswith('bn.weight'):
            p.copy_(torch.rand(p.shape, generator=g) + 0.5)
        else:
            p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * 0.1)
    for name, b in model.named_buffers():
        if name.endswith('running_mean'):
            b.copy_((torch.rand(b.shape, generator=g) * 2 - 1) * 0.1)
        elif name.endswith('running_var'):
            b.copy_(torch.rand(b.shape, generator=g) + 0.5)

captured = {}


def hook(m):
    head = m.model[-1]
    handles = [c.register_forward_hook(lambda mod, inp, outp, k=k: captured.__setitem__(f'p{k + 3}', outp.detach())) for k, c in enumerate(head.m)]
    handles.append(head.proto.register_forward_hook(lambda mod, inp, outp: captured.__setitem__('proto', outp.detach())))
    return handles

size = 64
x = torch.rand((2, 3, size, size), generator=g)


def as_json(t):
    """A float32 tensor as shape + base64 of its little-endian bytes (NCHW)."""
    import base64
    return {'shape': list(t.shape), 'f32': base64.b64encode(t.float().numpy().astype('<f4').tobytes()).decode()}


def run(m):
    captured.clear()
    handles = hook(m)
    with torch.no_grad():
        m(x)
    for h in handles:
        h.remove()
    # NCHW as the official code computes them; the test converts.
    return {k: as_json(v) for k, v in captured.items()}


fp32 = run(model)
state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}


def save_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for k, v in tensors.items():
        raw = v.numpy().astype('<f4').tobytes()
        header[k] = {'dtype': 'F32', 'shape': list(v.shape), 'data_offsets': [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    meta = json.dumps(header).encode()
    meta += b' ' * ((8 - len(meta) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(meta)))
        f.write(meta)
        for blob in blobs:
            f.write(blob)


save_safetensors(out / 'model.safetensors', {k: v for k, v in state.items() if not k.endswith('num_batches_tracked')})
torch.save(model.state_dict(), out / 'state-dict.pt')
half = deepcopy(model).half()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.937, nesterov=True)
torch.save({'epoch': 3, 'best_fitness': np.float64(0.25), 'model': half, 'ema': deepcopy(half), 'updates': 42,
            'optimizer': opt.state_dict(), 'opt': {'imgsz': 640, 'hyp': 'hyp.scratch-high.yaml'}, 'git': None, 'date': '2026-12-01'},
           out / 'model-fp16.pt')
fp16 = run(deepcopy(half).float())
(out / 'io.json').write_text(json.dumps({
    'source': f'official yolov7-seg (u7) models/segment/yolov7-seg.yaml, width_multiple {WIDTH}, nc 3',
    'input': as_json(x),
    'fp32': fp32, 'fp16': fp16,
}))
print(f'wrote {out}: {len(state)} tensors, {sum(v.numel() for v in state.values())} values')
