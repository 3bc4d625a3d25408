"""Pooling with a Python loop over the batch: each image's windows are pooled at once
(correct, vectorized inside a sample, slow on a large batch)."""

import torch


def _pair(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def maxpool2d_forward(x, kernel_size, stride=None):
    KH, KW = _pair(kernel_size)
    sh, sw = (KH, KW) if stride is None else _pair(stride)
    N, C, H, W = x.shape
    outs, where = [], []
    for n in range(N):
        win = x[n].unfold(1, KH, sh).unfold(2, KW, sw)  # (C, Ho, Wo, KH, KW)
        Ho, Wo = win.shape[1], win.shape[2]
        out, arg = win.reshape(C, Ho, Wo, KH * KW).max(dim=-1)
        rows = torch.arange(Ho, device=x.device).view(Ho, 1) * sh + arg // KW
        cols = torch.arange(Wo, device=x.device) * sw + arg % KW
        outs.append(out)
        where.append(rows * W + cols)
    return torch.stack(outs), (x.shape, torch.stack(where))


def maxpool2d_backward(dout, cache):
    (N, C, H, W), where = cache
    dx = dout.new_zeros(N, C, H * W)
    for n in range(N):
        dx[n].scatter_add_(1, where[n].reshape(C, -1), dout[n].reshape(C, -1))
    return dx.reshape(N, C, H, W)


def avgpool2d_forward(x, kernel_size, stride=None):
    KH, KW = _pair(kernel_size)
    sh, sw = (KH, KW) if stride is None else _pair(stride)
    outs = []
    for n in range(x.shape[0]):
        outs.append(x[n].unfold(1, KH, sh).unfold(2, KW, sw).mean(dim=(-2, -1)))
    return torch.stack(outs), (x.shape, (KH, KW), (sh, sw))


def avgpool2d_backward(dout, cache):
    (N, C, H, W), (KH, KW), (sh, sw) = cache
    Ho, Wo = dout.shape[2], dout.shape[3]
    dx = dout.new_zeros(N, C, H, W)
    for n in range(N):
        share = (dout[n] / (KH * KW)).reshape(C, 1, Ho * Wo).expand(C, KH * KW, Ho * Wo)
        dx[n] = torch.nn.functional.fold(share, (H, W), (KH, KW), stride=(sh, sw))[:, 0]
    return dx
