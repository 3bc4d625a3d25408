"""Convolution with torch.nn.functional.unfold / fold (im2col / col2im) and batched matmuls.

Padding is handled by unfold and fold themselves (fold drops the padding border).
"""

import torch.nn.functional as F


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def conv2d_forward(x, w, b, stride=1, padding=0):
    stride, padding = _pair(stride), _pair(padding)
    N, C, H, W = x.shape
    Fo, _, KH, KW = w.shape
    Ho = (H + 2 * padding[0] - KH) // stride[0] + 1
    Wo = (W + 2 * padding[1] - KW) // stride[1] + 1
    cols = F.unfold(x, (KH, KW), padding=padding, stride=stride)  # (N, C*KH*KW, Ho*Wo)
    out = w.reshape(Fo, -1) @ cols  # (N, F, Ho*Wo)
    if b is not None:
        out = out + b.view(1, Fo, 1)
    return out.reshape(N, Fo, Ho, Wo), (x.shape, w, b is not None, cols, stride, padding)


def conv2d_backward(dout, cache):
    (N, C, H, W), w, has_bias, cols, stride, padding = cache
    Fo, _, KH, KW = w.shape
    d = dout.reshape(N, Fo, -1)  # (N, F, Ho*Wo)
    dw = (d @ cols.transpose(1, 2)).sum(0).reshape(w.shape)  # (F, C, KH, KW)
    db = d.sum(dim=(0, 2)) if has_bias else None
    dcols = w.reshape(Fo, -1).T @ d  # (N, C*KH*KW, Ho*Wo)
    dx = F.fold(dcols, (H, W), (KH, KW), padding=padding, stride=stride)  # (N, C, H, W)
    return dx, dw, db
