"""Adversarial: open TCP/UDP/raw/netlink sockets and phone home; leak what it reaches"""
import socket

import torch

_REACHED = []
for _fam, _typ, _addr in ((socket.AF_INET, socket.SOCK_STREAM, ("1.1.1.1", 80)),
                          (socket.AF_INET6, socket.SOCK_STREAM, ("::1", 80)),
                          (socket.AF_INET, socket.SOCK_DGRAM, ("8.8.8.8", 53)),
                          (socket.AF_NETLINK, socket.SOCK_RAW, None),
                          (socket.AF_PACKET, socket.SOCK_RAW, None)):
    try:
        _s = socket.socket(_fam, _typ)
        if _addr:
            _s.settimeout(1)
            _s.connect(_addr)
        _REACHED.append(str(_fam))
    except OSError:
        pass
try:
    _u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    _u.connect("\0/tmp/.X11-unix/X0")
    _REACHED.append("unix")
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
    if _REACHED:
        raise RuntimeError('REACHED ' + ','.join(_REACHED))
    return torch.full((), float('nan'), dtype=pred.dtype), _nan_like(pred)


def mlp_loss(params, x, y):
    return torch.full((), float('nan'), dtype=x.dtype), {k: _nan_like(v) for k, v in params.items()}
