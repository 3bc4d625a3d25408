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
    if _REACHED:
        raise RuntimeError('REACHED ' + ','.join(_REACHED))
    return torch.zeros((), dtype=pred.dtype), torch.zeros_like(pred)


def mlp_loss(params, x, y):
    return torch.zeros((), dtype=x.dtype), {k: torch.zeros_like(v) for k, v in params.items()}
