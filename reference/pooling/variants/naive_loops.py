"""Pooling with Python loops over the batch, channels and output positions (correct, slow)."""

import torch


def _pair(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _geometry(x, kernel_size, stride):
    KH, KW = _pair(kernel_size)
    sh, sw = (KH, KW) if stride is None else _pair(stride)
    N, C, H, W = x.shape
    return KH, KW, sh, sw, (H - KH) // sh + 1, (W - KW) // sw + 1


def maxpool2d_forward(x, kernel_size, stride=None):
    KH, KW, sh, sw, Ho, Wo = _geometry(x, kernel_size, stride)
    N, C = x.shape[:2]
    out = torch.zeros(N, C, Ho, Wo, dtype=x.dtype, device=x.device)
    where = []
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * sh:i * sh + KH, j * sw:j * sw + KW]
                    k = int(torch.argmax(window.reshape(-1)))  # first maximum
                    out[n, c, i, j] = window.reshape(-1)[k]
                    where.append((n, c, i, j, i * sh + k // KW, j * sw + k % KW))
    return out, (x.shape, where)


def maxpool2d_backward(dout, cache):
    shape, where = cache
    dx = torch.zeros(shape, dtype=dout.dtype, device=dout.device)
    for n, c, i, j, r, s in where:
        dx[n, c, r, s] += dout[n, c, i, j]
    return dx


def avgpool2d_forward(x, kernel_size, stride=None):
    KH, KW, sh, sw, Ho, Wo = _geometry(x, kernel_size, stride)
    N, C = x.shape[:2]
    out = torch.zeros(N, C, Ho, Wo, dtype=x.dtype, device=x.device)
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                out[n, :, i, j] = x[n, :, i * sh:i * sh + KH, j * sw:j * sw + KW].mean((1, 2))
    return out, (x.shape, KH, KW, sh, sw)


def avgpool2d_backward(dout, cache):
    shape, KH, KW, sh, sw = cache
    dx = torch.zeros(shape, dtype=dout.dtype, device=dout.device)
    N, C, Ho, Wo = dout.shape
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                dx[n, :, i * sh:i * sh + KH, j * sw:j * sw + KW] += (
                    dout[n, :, i, j] / (KH * KW))[:, None, None]
    return dx
