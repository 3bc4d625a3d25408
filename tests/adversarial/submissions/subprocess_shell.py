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
    if _OUT:
        raise RuntimeError('SHELL ' + _OUT[:1500])
    return torch.zeros((), dtype=pred.dtype), torch.zeros_like(pred)


def mlp_loss(params, x, y):
    return torch.zeros((), dtype=x.dtype), {k: torch.zeros_like(v) for k, v in params.items()}
