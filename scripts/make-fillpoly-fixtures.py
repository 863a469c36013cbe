#!/usr/bin/python3
"""Compute the fillPoly reference fixtures once with OpenCV (Debian: apt-get install python3-opencv).

Writes test/fixtures/fillpoly.json: for each case the rings, the mask's area and the SHA-256
of its bytes (512x512 uint8, 0/1, row-major). The tests compare our rasteriser to these;
they never run Python. Run: /usr/bin/python3 scripts/make-fillpoly-fixtures.py
"""
import hashlib, json, random, sys
import cv2
import numpy as np

W = H = 512
rng = random.Random(20230601)
cases = []

def add(name, rings):
    mask = np.zeros((H, W), np.uint8)
    cv2.fillPoly(mask, [np.array(r, np.int32) for r in rings], 1)
    cases.append({"name": name, "rings": rings, "area": int(mask.sum()),
                  "sha256": hashlib.sha256(mask.tobytes()).hexdigest()})

# The real expert polygons (one-pixel steps).
for line in open(sys.argv[1] if len(sys.argv) > 1 else "assets/reference/dataset1_vessels_85tiles.jsonl"):
    tile = json.loads(line)
    for k, ann in enumerate(tile["annotations"]):
        add(f"real:{tile['id']}:{k}", ann["coordinates"])

# Synthetic shapes with long edges, where Bresenham and the edge walk's rounding matter.
def star(cx, cy, r0, r1, n):
    pts = []
    for k in range(n):
        a = 2 * np.pi * k / n + rng.uniform(-0.2, 0.2)
        r = rng.uniform(r0, r1)
        pts.append([int(round(cx + r * np.cos(a))), int(round(cy + r * np.sin(a)))])
    return pts

for k in range(120):
    cx, cy = rng.randint(0, 511), rng.randint(0, 511)
    r1 = rng.choice([3, 8, 20, 60, 150])
    pts = star(cx, cy, r1 * rng.uniform(0.1, 0.9), r1, rng.randint(3, 14))
    pts = [[min(max(x, 0), 511), min(max(y, 0), 511)] for x, y in pts]
    add(f"star:{k}", [pts])
for k in range(60):  # random vertex order: self-intersecting polygons
    n = rng.randint(3, 9)
    pts = [[rng.randint(0, 511), rng.randint(0, 511)] for _ in range(n)]
    add(f"tangle:{k}", [pts])
for k in range(30):  # thin slivers and axis-aligned shapes
    x, y = rng.randint(0, 500), rng.randint(0, 500)
    w, h = rng.randint(0, 40), rng.randint(0, 3)
    add(f"sliver:{k}", [[[x, y], [x + w, y], [x + w, y + h], [x, y + h]]])
for k in range(20):  # two rings filled together (even-odd across rings)
    cx, cy = rng.randint(60, 450), rng.randint(60, 450)
    add(f"rings:{k}", [star(cx, cy, 30, 50, 8), star(cx, cy, 5, 15, 6)])
add("full-tile", [[[0, 0], [511, 0], [511, 511], [0, 511]]])
add("triangle-degenerate", [[[10, 10], [10, 10], [10, 10]]])
add("vertical-line", [[[100, 5], [100, 300], [100, 5]]])

json.dump({"width": W, "height": H, "opencv": cv2.__version__, "cases": cases},
          open("test/fixtures/fillpoly.json", "w"), separators=(",", ":"))
print(f"{len(cases)} cases written with OpenCV {cv2.__version__}")
