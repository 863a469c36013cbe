"""The benchmark network of bench/engine-net.ts in PyTorch, built from the same layer list.

Usage: python3 bench/engine_torch.py SPEC.json BATCH SIZE [SIZE ...]
Prints one JSON object: forward and train-step milliseconds per size. Never run by tests or CI.
"""
import json, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)


class CBS(nn.Module):
    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3)

    def forward(self, x):
        return F.silu(self.bn(self.conv(x)))


class C2f(nn.Module):
    def __init__(self, c1, c2, n):
        super().__init__()
        h = c2 // 2
        self.cv1 = CBS(c1, 2 * h)
        self.m = nn.ModuleList(nn.Sequential(CBS(h, h, 3), CBS(h, h, 3)) for _ in range(n))
        self.cv2 = CBS((2 + n) * h, c2)

    def forward(self, x):
        parts = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            parts.append(parts[-1] + m(parts[-1]))
        return self.cv2(torch.cat(parts, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2):
        super().__init__()
        self.cv1 = CBS(c1, c1 // 2)
        self.cv2 = CBS(2 * c1, c2)

    def forward(self, x):
        a = self.cv1(x)
        p1 = F.max_pool2d(a, 5, 1, 2)
        p2 = F.max_pool2d(p1, 5, 1, 2)
        p3 = F.max_pool2d(p2, 5, 1, 2)
        return self.cv2(torch.cat([a, p1, p2, p3], 1))


class Net(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        mods = []
        for l in spec:
            op = l["op"]
            if op == "conv": mods.append(CBS(l["c1"], l["c2"], l["k"], l["s"]))
            elif op == "c2f": mods.append(C2f(l["c1"], l["c2"], l["n"]))
            elif op == "sppf": mods.append(SPPF(l["c1"], l["c2"]))
            elif op == "out": mods.append(nn.Conv2d(l["c1"], l["c2"], 1))
            else: mods.append(nn.Identity())
        self.mods = nn.ModuleList(mods)

    def forward(self, x):
        outs, results = [x], []
        for i, (l, m) in enumerate(zip(self.spec, self.mods)):
            at = i + 1
            get = lambda f: outs[at + f] if f < 0 else outs[f]
            op = l["op"]
            if op == "up": y = F.interpolate(get(l["from"]), scale_factor=2, mode="nearest")
            elif op == "concat": y = torch.cat([get(f) for f in l["from"]], 1)
            else: y = m(get(l["from"]))
            if op == "out": results.append(y)
            outs.append(y)
        return results


def timed(fn, repeats):
    fn(); fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append((time.perf_counter() - t) * 1000)
    return sorted(times)[len(times) // 2]


def main():
    spec = json.load(open(sys.argv[1]))
    batch = int(sys.argv[2])
    net = Net(spec)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    out = {"params": sum(p.numel() for p in net.parameters()), "threads": torch.get_num_threads(), "version": torch.__version__}
    for size in map(int, sys.argv[3:]):
        x = torch.randn(batch, 3, size, size)
        net.train()
        with torch.no_grad():
            fwd = timed(lambda: net(x), 5)

        def step():
            opt.zero_grad()
            loss = sum((o ** 2).mean() for o in net(x))
            loss.backward()
            opt.step()
        out[str(size)] = {"forward": fwd, "train": timed(step, 5)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
