"""Pooling with torch.nn.functional.unfold (im2col) on the channels folded into the batch:
max backward scatters into the im2col matrix then folds it back (col2im); average
backward folds the shared gradient."""

import torch.nn.functional as F


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _cols(x, kernel_size, stride):
    k = _pair(kernel_size)
    s = k if stride is None else _pair(stride)
    N, C, H, W = x.shape
    cols = F.unfold(x.reshape(N * C, 1, H, W), k, stride=s)  # (N*C, KH*KW, L)
    Ho, Wo = (H - k[0]) // s[0] + 1, (W - k[1]) // s[1] + 1
    return cols, k, s, (N, C, H, W, Ho, Wo)


def maxpool2d_forward(x, kernel_size, stride=None):
    cols, k, s, (N, C, H, W, Ho, Wo) = _cols(x, kernel_size, stride)
    out, arg = cols.max(dim=1)  # (N*C, L)
    return out.reshape(N, C, Ho, Wo), (arg, k, s, (N, C, H, W, Ho, Wo))


def maxpool2d_backward(dout, cache):
    arg, k, s, (N, C, H, W, Ho, Wo) = cache
    dcols = dout.new_zeros(N * C, k[0] * k[1], Ho * Wo)
    dcols.scatter_add_(1, arg.unsqueeze(1), dout.reshape(N * C, 1, Ho * Wo))
    return F.fold(dcols, (H, W), k, stride=s).reshape(N, C, H, W)


def avgpool2d_forward(x, kernel_size, stride=None):
    cols, k, s, (N, C, H, W, Ho, Wo) = _cols(x, kernel_size, stride)
    return cols.mean(dim=1).reshape(N, C, Ho, Wo), (k, s, (N, C, H, W, Ho, Wo))


def avgpool2d_backward(dout, cache):
    k, s, (N, C, H, W, Ho, Wo) = cache
    share = (dout / (k[0] * k[1])).reshape(N * C, 1, Ho * Wo).expand(-1, k[0] * k[1], -1)
    return F.fold(share, (H, W), k, stride=s).reshape(N, C, H, W)
