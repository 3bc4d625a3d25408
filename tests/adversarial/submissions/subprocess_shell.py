"""Adversarial: run shell commands (cat the reference, curl) and use their output"""
import os
import subprocess

import torch

_OUT = ""
for _cmd in (["cat", "/work/main/reference/backprop/backprop.py"], ["sh", "-c", "env; ls /"],
             ["/bin/true"]):
    try:
        _OUT += subprocess.run(_cmd, capture_output=True, text=True, timeout=5).stdout
    except Exception:
        pass
try:
    os.system("touch /tmp/pwned")
except Exception:
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
    if _OUT:
        raise RuntimeError('SHELL ' + _OUT[:1500])
    return torch.full((), float('nan'), dtype=pred.dtype), _nan_like(pred)


def mlp_loss(params, x, y):
    return torch.full((), float('nan'), dtype=x.dtype), {k: _nan_like(v) for k, v in params.items()}
