"""PyTorch interpreter of a vascseg layer graph (JSON from bench/train.ts), for train-step timing.

Convolutions pad as the graph says: symmetric (k // 2, PyTorch's own, as every new model) or
TensorFlow's SAME (the odd pixel bottom/right, older checkpoints' graphs); BN uses batch statistics
(training mode), SiLU after BN; the loss is sum(output * G) with fixed random G per output,
the same synthetic loss the vascseg engines are timed with. Prints JSON: ms per size.
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine_torch import timed  # same directory: the script's own


def same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class GraphNet(nn.Module):
    def __init__(self, graph):
        super().__init__()
        self.layers = graph["layers"]
        self.symmetric = graph.get("padding", "same") == "symmetric"
        self.outputs = graph["heads"] + [graph["proto"]]
        self.convs = nn.ModuleDict()
        self.bns = nn.ModuleDict()
        for l in self.layers:
            if l["op"] != "conv":
                continue
            c1 = self.layers[l["from"]]["channels"]
            key = str(l["id"])
            self.convs[key] = nn.Conv2d(c1, l["channels"], l["k"], l["s"], l["k"] // 2 if self.symmetric else 0, bias=not l["bn"])
            if l["bn"]:
                self.bns[key] = nn.BatchNorm2d(l["channels"], eps=1e-3, momentum=0.03)

    def forward(self, x):
        vals = []
        for l in self.layers:
            op = l["op"]
            if op == "input":
                vals.append(x)
            elif op == "conv":
                src = vals[l["from"]]
                conv = self.convs[str(l["id"])]
                if self.symmetric:
                    y = conv(src)
                else:
                    pt, pb = same_pads(src.shape[2], l["k"], l["s"])
                    pl, pr = same_pads(src.shape[3], l["k"], l["s"])
                    y = conv(F.pad(src, (pl, pr, pt, pb)) if pt or pb or pl or pr else src)
                if l["bn"]:
                    y = self.bns[str(l["id"])](y)
                if l["act"] == "silu":
                    y = F.silu(y)
                vals.append(y)
            elif op == "maxpool":
                src = vals[l["from"]]
                pt, pb = same_pads(src.shape[2], l["k"], l["s"])
                pl, pr = same_pads(src.shape[3], l["k"], l["s"])
                padded = F.pad(src, (pl, pr, pt, pb), value=float("-inf")) if pt or pb or pl or pr else src
                vals.append(F.max_pool2d(padded, l["k"], l["s"]))
            elif op == "upsample":
                vals.append(F.interpolate(vals[l["from"]], scale_factor=l["scale"], mode="nearest"))
            elif op == "concat":
                vals.append(torch.cat([vals[f] for f in l["from"]], 1))
        return [vals[i] for i in self.outputs]


def main():
    graph = json.load(open(sys.argv[1]))
    batch = int(sys.argv[2])
    net = GraphNet(graph)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, nesterov=True)
    out = {"params": sum(p.numel() for p in net.parameters()), "threads": torch.get_num_threads(), "version": torch.__version__}
    torch.manual_seed(0)
    for size in map(int, sys.argv[3:]):
        x = torch.rand(batch, 3, size, size)
        with torch.no_grad():
            gs = [torch.randn_like(o) for o in net(x)]

        def step():
            opt.zero_grad()
            loss = sum((o * g).sum() for o, g in zip(net(x), gs))
            loss.backward()
            opt.step()
        out[str(size)] = {"train": timed(step, 5)}
    print(json.dumps(out))


main()
