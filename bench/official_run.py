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
written as COCO results JSON (compressed RLE, category = class + 1) for our scorer.

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

    model = attempt_load(weights, device=torch.device('cpu'), inplace=True, fuse=True).eval()
    stride = int(model.stride.max())
    results = []
    started = time.time()
    paths = [line.strip() for line in Path(listing).read_text().splitlines() if line.strip()]
    with torch.no_grad():
        for path in paths:
            im0 = cv2.imread(path)
            if im0 is None:
                raise SystemExit(f'{path}: cv2 cannot read it')
            im = letterbox(im0, imgsz, stride=stride, auto=False)[0]
            im = np.ascontiguousarray(im.transpose((2, 0, 1))[::-1])  # HWC BGR -> CHW RGB
            x = torch.from_numpy(im).float()[None] / 255
            pred, (_, proto) = model(x)
            det = non_max_suppression(pred, conf, iou, None, False, max_det=max_det, nm=32)[0]
            if len(det) == 0:
                continue
            masks = process_mask(proto[0], det[:, 6:], det[:, :4], x.shape[2:], upsample=True)
            # letterbox at a square tile is a plain resize: back to the tile's size as scale_masks does.
            masks = F.interpolate(masks[None].float(), im0.shape[:2], mode='bilinear', align_corners=False)[0] > 0.5
            tile = Path(path).stem
            for m, d in zip(masks.numpy(), det.numpy()):
                results.append({'image_id': tile, 'category_id': int(d[5]) + 1, 'score': float(d[4]),
                                'segmentation': {'size': [int(m.shape[0]), int(m.shape[1])], 'counts': coco_rle(m)}})
    Path(out).write_text(json.dumps(results))
    print(f'official predict: {len(paths)} tiles, {len(results)} instances, {time.time() - started:.1f} s', flush=True)


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
