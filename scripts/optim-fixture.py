#!/usr/bin/env python3
"""An optimiser fixture from PyTorch (run once; the tests need no Python).

    /usr/bin/python3 scripts/optim-fixture.py test/fixtures/optim.json

Three parameters, one per YOLO parameter group (a conv weight with weight decay, a BN scale and
a bias without), four steps with per-group learning rates and a momentum that change each step
as YOLO's warm-up changes them: the parameters after every step under torch.optim.SGD
(nesterov) and torch.optim.AdamW, and the EMA of the SGD run's weights with YOLOv5's ramp
(ModelEMA: d = decay * (1 - exp(-updates / tau)); v = d * v + (1 - d) * p).
"""
import json
import math
import sys

import torch

torch.set_default_dtype(torch.float32)
shapes = {'a.w': (2, 3, 1, 2), 'a.gamma': (3,), 'a.bias': (3,)}
groups = {'a.w': 'weights', 'a.gamma': 'norm', 'a.bias': 'bias'}


def values(n, phase, scale):
    return [scale * math.sin(1.3 * k + phase) for k in range(n)]


init = {name: values(math.prod(s), 0.4 * i, 0.5) for i, (name, s) in enumerate(shapes.items())}
grads = [{name: values(math.prod(s), 1.1 * t + 0.7 * i, 0.2 + 0.1 * t) for i, (name, s) in enumerate(shapes.items())} for t in range(4)]
lrs = [{'weights': 0.01 * (t + 1), 'norm': 0.02 * (t + 1), 'bias': 0.1 - 0.02 * t} for t in range(4)]
momenta = [0.8, 0.85, 0.9, 0.937]
wd = 0.05
ema_decay, ema_tau = 0.9999, 2.0


def run(make):
    params = {name: torch.tensor(init[name]).reshape(shapes[name]).requires_grad_() for name in shapes}
    opt = make([
        {'params': [params['a.gamma']], 'weight_decay': 0.0, 'name': 'norm'},
        {'params': [params['a.w']], 'weight_decay': wd, 'name': 'weights'},
        {'params': [params['a.bias']], 'weight_decay': 0.0, 'name': 'bias'},
    ])
    shadow = {name: p.detach().clone() for name, p in params.items()}
    after, emas = [], []
    for t in range(4):
        for name, p in params.items():
            p.grad = torch.tensor(grads[t][name]).reshape(shapes[name])
        for g in opt.param_groups:
            g['lr'] = lrs[t][g['name']]
            if 'momentum' in g:
                g['momentum'] = momenta[t]
        opt.step()
        after.append({name: p.detach().flatten().tolist() for name, p in params.items()})
        d = ema_decay * (1 - math.exp(-(t + 1) / ema_tau))
        for name, p in params.items():
            shadow[name].mul_(d).add_(p.detach(), alpha=1 - d)
        emas.append({name: s.flatten().tolist() for name, s in shadow.items()})
    return after, emas


sgd, ema = run(lambda g: torch.optim.SGD(g, lr=0.0, momentum=momenta[0], nesterov=True))
adamw, _ = run(lambda g: torch.optim.AdamW(g, lr=0.0, betas=(0.937, 0.999), eps=1e-8))
fixture = {
    'torch': torch.__version__, 'shapes': shapes, 'groups': groups, 'init': init, 'grads': grads, 'lrs': lrs,
    'momenta': momenta, 'weight_decay': wd, 'ema': {'decay': ema_decay, 'tau': ema_tau, 'after': ema},
    'sgd': sgd, 'adamw': adamw,
}
with open(sys.argv[1], 'w') as f:
    json.dump(fixture, f)
