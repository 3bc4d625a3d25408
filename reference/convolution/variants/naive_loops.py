"""Convolution with Python loops over the batch and output positions (correct, slow)."""

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
    xp = torch.zeros(N, C, H + 2 * ph, W + 2 * pw, dtype=x.dtype, device=x.device)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    out = torch.zeros(N, F, Ho, Wo, dtype=x.dtype, device=x.device)
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                patch = xp[n, :, i * sh:i * sh + KH, j * sw:j * sw + KW]  # (C, KH, KW)
                out[n, :, i, j] = (w * patch).sum(dim=(1, 2, 3))
                if b is not None:
                    out[n, :, i, j] += b
    return out, (xp, w, b is not None, (sh, sw), (ph, pw), (H, W))


def conv2d_backward(dout, cache):
    xp, w, has_bias, (sh, sw), (ph, pw), (H, W) = cache
    N = xp.shape[0]
    F, C, KH, KW = w.shape
    Ho, Wo = dout.shape[2], dout.shape[3]
    dxp = torch.zeros_like(xp)
    dw = torch.zeros_like(w)
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                g = dout[n, :, i, j]  # (F,)
                patch = xp[n, :, i * sh:i * sh + KH, j * sw:j * sw + KW]
                dw += g[:, None, None, None] * patch
                dxp[n, :, i * sh:i * sh + KH, j * sw:j * sw + KW] += (
                    g[:, None, None, None] * w).sum(0)
    db = dout.sum(dim=(0, 2, 3)) if has_bias else None
    return dxp[:, :, ph:ph + H, pw:pw + W].clone(), dw, db
