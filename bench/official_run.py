#!/usr/bin/env python3
"""The official YOLOv7-seg side of `npm run bench:official` (bench/official.ts writes its inputs).

    python3 bench/official_run.py train   OFFICIAL THREADS [--nbs=N] -- <segment/train.py arguments>
    python3 bench/official_run.py predict OFFICIAL WEIGHTS LIST OUT.json IMGSZ CONF IOU MAXDET THREADS

train: runs the official `segment/train.py` in place (its own argument parser, data loader,
augmentation, ComputeLoss, optimizer, EMA and checkpointing), as `python segment/train.py ...`
would, with torch limited to THREADS threads; `--nbs=N` sets the nominal batch that train.py
fixes at 64 in its source (replaced in memory when it runs; the file is not edited).

predict: the official predict path for each image listed in LIST (one path per line): cv2 read,
`letterbox` to IMGSZ, the model's eval forward, `non_max_suppression(..., nm=32)`,
`process_mask(..., upsample=True)` (crop at prototype resolution, bilinear to the input, > 0.5),
then each mask resized back to the image's size (bilinear, > 0.5, as `scale_masks` does) and
written as COCO results JSON (compressed RLE, category = class + 1) for our scorer. WEIGHTS is
the official `last.pt`, or safetensors that `vascseg export --format safetensors` wrote (the
model is then built from models/segment/yolov7-seg.yaml at the width its metadata names, its
state dict loaded and BN fused, as attempt_load fuses). The last line printed is
`timings {...}`: mean ms per tile of read + letterbox, forward, NMS, and masks (process_mask,
the resize back, RLE), measured after one warm-up tile.

Packages the official code imports but these two paths never use (plots, loggers, FLOP
counting) are stubbed when they are not installed; nothing in the official tree is edited.
What must be installed (Debian): python3-torch python3-torchvision python3-opencv python3-yaml
python3-numpy python3-tqdm python3-pil python3-pandas python3-scipy python3-matplotlib.
"""
import importlib.util
import json
import runpy
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'scripts'))
from official_shims import install_stubs  # noqa: E402

# Only what the official code imports unconditionally; the rest it guards with try/except ImportError itself.
OPTIONAL = ('seaborn', 'tensorboard')


def _missing(name):
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


STUBBED = tuple(n for n in OPTIONAL if _missing(n))
# torch's tensorboard bridge imports tensorboard itself.
install_stubs(STUBBED + (('torch.utils.tensorboard',) if 'tensorboard' in STUBBED else ()))


def coco_rle(mask):
    """A binary HxW mask as COCO's compressed RLE string (column-major runs, zeros first)."""
    import numpy as np
    flat = np.asarray(mask, dtype=np.uint8).flatten(order='F')
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0] + counts
    out = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        while True:
            c = x & 0x1f
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
            if not more:
                break
    return ''.join(out)


def train(official, threads, nbs, argv):
    import numpy as np
    import torch
    torch.set_num_threads(threads)
    # The official code predates NumPy 1.24, which removed the np.int alias its data loader uses.
    if not hasattr(np, 'int'):
        np.int = int
    sys.path.insert(0, str(official))
    import utils.general
    # check_dataset downloads a plotting font; with --noplots nothing draws, and there is no network.
    utils.general.check_font = lambda *args, **kwargs: None
    script = official / 'segment' / 'train.py'
    sys.argv = [str(script), *argv]
    started = time.time()
    if nbs is None:
        runpy.run_path(str(script), run_name='__main__')
    else:
        # train.py fixes the nominal batch in its source (`nbs = 64`); this one constant is
        # replaced in memory (the file is untouched) so both sides can train at the same one.
        source = script.read_text()
        if source.count('nbs = 64') != 1:
            raise SystemExit(f'{script}: no single `nbs = 64` line to set the nominal batch in')
        code = compile(source.replace('nbs = 64', f'nbs = {nbs}'), str(script), 'exec')
        exec(code, {'__name__': '__main__', '__file__': str(script)})
    print(f'official train: {time.time() - started:.1f} s', flush=True)


def predict(official, weights, listing, out, imgsz, conf, iou, max_det, threads):
    import cv2
    import numpy as np
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    sys.path.insert(0, str(official))
    from models.experimental import attempt_load
    from utils.augmentations import letterbox
    from utils.general import non_max_suppression
    from utils.segment.general import process_mask

    if weights.endswith('.safetensors'):
        model = load_safetensors_model(official, weights)
    else:
        model = attempt_load(weights, device=torch.device('cpu'), inplace=True, fuse=True).eval()
    stride = int(model.stride.max())
    results = []
    paths = [line.strip() for line in Path(listing).read_text().splitlines() if line.strip()]
    phases = {'read': 0.0, 'forward': 0.0, 'nms': 0.0, 'masks': 0.0}

    def one(path, keep):
        t0 = time.perf_counter()
        im0 = cv2.imread(path)
        if im0 is None:
            raise SystemExit(f'{path}: cv2 cannot read it')
        im = letterbox(im0, imgsz, stride=stride, auto=False)[0]
        im = np.ascontiguousarray(im.transpose((2, 0, 1))[::-1])  # HWC BGR -> CHW RGB
        x = torch.from_numpy(im).float()[None] / 255
        t1 = time.perf_counter()
        pred, (_, proto) = model(x)
        t2 = time.perf_counter()
        det = non_max_suppression(pred, conf, iou, None, False, max_det=max_det, nm=32)[0]
        t3 = time.perf_counter()
        found = []
        if len(det):
            masks = process_mask(proto[0], det[:, 6:], det[:, :4], x.shape[2:], upsample=True)
            # letterbox at a square tile is a plain resize: back to the tile's size as scale_masks does.
            masks = F.interpolate(masks[None].float(), im0.shape[:2], mode='bilinear', align_corners=False)[0] > 0.5
            tile = Path(path).stem
            for m, d in zip(masks.numpy(), det.numpy()):
                found.append({'image_id': tile, 'category_id': int(d[5]) + 1, 'score': float(d[4]),
                              'segmentation': {'size': [int(m.shape[0]), int(m.shape[1])], 'counts': coco_rle(m)}})
        t4 = time.perf_counter()
        if keep:
            for key, dt in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[key] += dt * 1000
        return found

    with torch.no_grad():
        if paths:
            one(paths[0], False)  # warm-up: the first call's allocations are not per-tile work
        started = time.time()
        for path in paths:
            results.extend(one(path, True))
    Path(out).write_text(json.dumps(results))
    print(f'official predict: {len(paths)} tiles, {len(results)} instances, {time.time() - started:.1f} s', flush=True)
    print('timings ' + json.dumps({k: v / max(1, len(paths)) for k, v in phases.items()}), flush=True)


def load_safetensors_model(official, path):
    """The official SegmentationModel at the width and classes the file's metadata names, its state dict from the file, BN fused."""
    import contextlib
    import io
    import numpy as np
    import torch
    import yaml
    from models.yolo import SegmentationModel
    raw = Path(path).read_bytes()
    n = int.from_bytes(raw[:8], 'little')
    header = json.loads(raw[8:8 + n])
    meta = header.pop('__metadata__', {})
    size, classes = meta.get('size', ''), [c for c in meta.get('classes', '').split(',') if c]
    if size != 'full' and not size.startswith('w'):
        raise SystemExit(f'{path}: a {size or "unnamed"} model; only the official architecture (full, or a width such as w0.125) exists in the official code')
    cfg = yaml.safe_load((official / 'models' / 'segment' / 'yolov7-seg.yaml').read_text())
    cfg['width_multiple'], cfg['nc'] = (1.0 if size == 'full' else float(size[1:])), len(classes)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        model = SegmentationModel(cfg, ch=3, nc=len(classes))
    data = raw[8 + n:]
    state = {}
    for name, spec in header.items():
        if spec['dtype'] != 'F32':
            raise SystemExit(f'{path}: {name} is {spec["dtype"]}, expected F32')
        begin, end = spec['data_offsets']
        state[name] = torch.from_numpy(np.frombuffer(data[begin:end], dtype='<f4').reshape(spec['shape']).copy())
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith('num_batches_tracked') and 'anchors' not in k]
    if missing or unexpected:
        raise SystemExit(f'{path}: state dict does not fit the official model (missing {missing[:5]}, unexpected {unexpected[:5]})')
    return model.fuse().eval()


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ('train', 'predict'):
        raise SystemExit(__doc__)
    official = Path(sys.argv[2]).resolve()
    if not (official / 'segment' / 'train.py').is_file():
        raise SystemExit(f'{official}: not the official YOLOv7-seg code (no segment/train.py)')
    if sys.argv[1] == 'train':
        rest = sys.argv[4:]
        nbs = None
        if rest[:1] and rest[0].startswith('--nbs='):
            nbs = int(rest[0].split('=', 1)[1])
            rest = rest[1:]
        if rest[:1] == ['--']:
            rest = rest[1:]
        train(official, int(sys.argv[3]), nbs, rest)
    else:
        weights, listing, out = sys.argv[3:6]
        imgsz, conf, iou, max_det, threads = int(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8]), int(sys.argv[9]), int(sys.argv[10])
        predict(official, weights, listing, out, imgsz, conf, iou, max_det, threads)


if __name__ == '__main__':
    main()
