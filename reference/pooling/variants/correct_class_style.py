"""A legitimate "mytorch"-style pooling: layer objects with forward/backward methods.

A shared base class cuts the input into windows; MaxPool2d and AvgPool2d reduce them.
Each API function builds a fresh layer and returns it as the cache. The names
(`self.max_pool2d`, `self.avg_pool2d`, `layer.backward`) are the student's own.
"""

from builtins import range  # noqa: F401, UP029 (the first line of many CS231n layers.py)

import torch


def _pair(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


class Pool2d:
    def __init__(self, kernel_size, stride=None):
        self.KH, self.KW = _pair(kernel_size)
        self.sh, self.sw = _pair(kernel_size if stride is None else stride)

    def windows(self, x):
        self.shape = x.shape
        return x.unfold(2, self.KH, self.sh).unfold(3, self.KW, self.sw)  # (N,C,Ho,Wo,KH,KW)


class MaxPool2d(Pool2d):
    def forward(self, x):
        win = self.windows(x)
        N, C, Ho, Wo = win.shape[:4]
        out, arg = win.reshape(N, C, Ho, Wo, self.KH * self.KW).max(dim=-1)  # first max
        rows = torch.arange(Ho, device=x.device).view(Ho, 1) * self.sh + arg // self.KW
        cols = torch.arange(Wo, device=x.device) * self.sw + arg % self.KW
        self.index = rows * x.shape[3] + cols  # (N, C, Ho, Wo): position in H*W
        return out

    def backward(self, dout):
        N, C, H, W = self.shape
        dx = dout.new_zeros(N, C, H * W)
        dx.scatter_add_(2, self.index.reshape(N, C, -1), dout.reshape(N, C, -1))
        return dx.reshape(N, C, H, W)


class AvgPool2d(Pool2d):
    def forward(self, x):
        return self.windows(x).mean(dim=(-2, -1))

    def backward(self, dout):
        N, C, H, W = self.shape
        Ho, Wo = dout.shape[2:]
        dx = dout.new_zeros(N, C, H, W)
        share = dout / (self.KH * self.KW)
        for u in range(self.KH):  # one slice per kernel offset, every window at once
            for v in range(self.KW):
                dx[:, :, u:u + (Ho - 1) * self.sh + 1:self.sh,
                   v:v + (Wo - 1) * self.sw + 1:self.sw] += share
        return dx


class Pooling:
    """The two layers of the assignment, as a model would hold them."""

    def __init__(self, kernel_size, stride=None):
        self.max_pool2d = MaxPool2d(kernel_size, stride)
        self.avg_pool2d = AvgPool2d(kernel_size, stride)


def maxpool2d_forward(x, kernel_size, stride=None):
    layer = Pooling(kernel_size, stride).max_pool2d
    return layer.forward(x), layer


def maxpool2d_backward(dout, cache):
    return cache.backward(dout)


def avgpool2d_forward(x, kernel_size, stride=None):
    layer = Pooling(kernel_size, stride).avg_pool2d
    return layer.forward(x), layer


def avgpool2d_backward(dout, cache):
    return cache.backward(dout)
