"""A legitimate "mytorch"-style convolution: a stride-1 convolution layer followed by a
downsampling layer, each an object with forward/backward methods.

The backward of the stride-1 layer is the textbook "full convolution" of the padded
upstream gradient with the flipped filters. Attribute names such as `self.conv2d_stride1`
are the student's own: the static scan must not take them for torch's conv2d.
"""

from builtins import range  # noqa: F401, UP029 (the first line of many CS231n layers.py)

import torch


def _pair(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


class Conv2d_stride1:  # noqa: N801 (the mytorch name)
    def forward(self, A, W, b):
        """A (N, C, Hp, Wp) already padded, W (F, C, KH, KW) -> Z (N, F, Ho1, Wo1)."""
        self.A, self.W, self.has_bias = A, W, b is not None
        KH, KW = W.shape[2:]
        windows = A.unfold(2, KH, 1).unfold(3, KW, 1)  # (N, C, Ho1, Wo1, KH, KW)
        Z = torch.einsum("nchwuv,fcuv->nfhw", windows, W)
        if b is not None:
            Z = Z + b.reshape(1, -1, 1, 1)
        return Z

    def backward(self, dLdZ):
        A, W = self.A, self.W
        KH, KW = W.shape[2:]
        windows = A.unfold(2, KH, 1).unfold(3, KW, 1)  # (N, C, Ho1, Wo1, KH, KW)
        dLdW = torch.einsum("nchwuv,nfhw->fcuv", windows, dLdZ)
        dLdb = dLdZ.sum(dim=(0, 2, 3)) if self.has_bias else None
        N, F, Ho1, Wo1 = dLdZ.shape
        padded = dLdZ.new_zeros(N, F, Ho1 + 2 * (KH - 1), Wo1 + 2 * (KW - 1))
        padded[:, :, KH - 1:KH - 1 + Ho1, KW - 1:KW - 1 + Wo1] = dLdZ
        full = padded.unfold(2, KH, 1).unfold(3, KW, 1)  # (N, F, Hp, Wp, KH, KW)
        dLdA = torch.einsum("nfhwuv,fcuv->nchw", full, W.flip(2, 3))
        return dLdA, dLdW, dLdb


class Downsample2d:
    def __init__(self, factor):
        self.sh, self.sw = factor

    def forward(self, A):
        self.shape = A.shape
        return A[:, :, ::self.sh, ::self.sw]

    def backward(self, dLdZ):
        dLdA = dLdZ.new_zeros(self.shape)
        dLdA[:, :, ::self.sh, ::self.sw] = dLdZ
        return dLdA


class Conv2d:
    def __init__(self, stride=1, padding=0):
        self.ph, self.pw = _pair(padding)
        self.conv2d_stride1 = Conv2d_stride1()
        self.downsample2d = Downsample2d(_pair(stride))

    def forward(self, x, w, b):
        N, C, H, W = x.shape
        self.H, self.W = H, W
        xp = x.new_zeros(N, C, H + 2 * self.ph, W + 2 * self.pw)
        xp[:, :, self.ph:self.ph + H, self.pw:self.pw + W] = x
        return self.downsample2d.forward(self.conv2d_stride1.forward(xp, w, b))

    def backward(self, dout):
        dz = self.downsample2d.backward(dout)
        dxp, dw, db = self.conv2d_stride1.backward(dz)
        return dxp[:, :, self.ph:self.ph + self.H, self.pw:self.pw + self.W], dw, db


def conv2d_forward(x, w, b, stride=1, padding=0):
    layer = Conv2d(stride, padding)
    return layer.forward(x, w, b), layer


def conv2d_backward(dout, cache):
    return cache.backward(dout)
