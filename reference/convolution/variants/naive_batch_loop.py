"""Convolution with a Python loop over the batch: each image is im2col'd and multiplied on
its own (correct, vectorized inside a sample, slow on a large batch of small images)."""

import torch


def _pair(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def conv2d_forward(x, w, b, stride=1, padding=0):
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho = (H + 2 * ph - KH) // sh + 1
    Wo = (W + 2 * pw - KW) // sw + 1
    w_mat = w.reshape(F, C * KH * KW)
    outs, cols_all = [], []
    for n in range(N):
        xp = torch.nn.functional.pad(x[n], (pw, pw, ph, ph))  # (C, H+2ph, W+2pw)
        cols = xp.unfold(1, KH, sh).unfold(2, KW, sw)  # (C, Ho, Wo, KH, KW)
        cols = cols.permute(0, 3, 4, 1, 2).reshape(C * KH * KW, Ho * Wo)
        o = w_mat @ cols  # (F, Ho*Wo)
        if b is not None:
            o = o + b[:, None]
        outs.append(o.reshape(F, Ho, Wo))
        cols_all.append(cols)
    return torch.stack(outs), (x.shape, w, b is not None, cols_all, (sh, sw), (ph, pw))


def conv2d_backward(dout, cache):
    (N, C, H, W), w, has_bias, cols_all, (sh, sw), (ph, pw) = cache
    F, _, KH, KW = w.shape
    w_mat = w.reshape(F, C * KH * KW)
    dx = dout.new_zeros(N, C, H, W)
    dw = torch.zeros_like(w_mat)
    for n in range(N):
        d = dout[n].reshape(F, -1)  # (F, Ho*Wo)
        dw += d @ cols_all[n].T
        dcols = w_mat.T @ d  # (C*KH*KW, Ho*Wo)
        dxp = torch.nn.functional.fold(dcols[None], (H + 2 * ph, W + 2 * pw), (KH, KW),
                                       stride=(sh, sw))[0]  # (C, H+2ph, W+2pw)
        dx[n] = dxp[:, ph:ph + H, pw:pw + W]
    db = dout.sum(dim=(0, 2, 3)) if has_bias else None
    return dx, dw.reshape(w.shape), db
