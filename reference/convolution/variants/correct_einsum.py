"""Convolution on an as_strided window view with einsum; the backward adds each kernel
offset's slab of gradient into a padded buffer (a loop over KH*KW offsets, vectorized
over the batch, channels and positions)."""

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
    s = xp.stride()
    win = xp.as_strided((N, C, Ho, Wo, KH, KW),
                        (s[0], s[1], s[2] * sh, s[3] * sw, s[2], s[3]))
    out = torch.einsum("nchwij,fcij->nfhw", win, w)
    if b is not None:
        out = out + b[None, :, None, None]
    return out, (xp, w, b is not None, (sh, sw), (ph, pw), (H, W))


def conv2d_backward(dout, cache):
    xp, w, has_bias, (sh, sw), (ph, pw), (H, W) = cache
    N, C, Hp, Wp = xp.shape
    F, _, KH, KW = w.shape
    Ho, Wo = dout.shape[2:]
    s = xp.stride()
    win = xp.as_strided((N, C, Ho, Wo, KH, KW),
                        (s[0], s[1], s[2] * sh, s[3] * sw, s[2], s[3]))
    dw = torch.einsum("nfhw,nchwij->fcij", dout, win)
    db = dout.sum(dim=(0, 2, 3)) if has_bias else None
    dwin = torch.einsum("nfhw,fcij->nchwij", dout, w)  # (N, C, Ho, Wo, KH, KW)
    dxp = torch.zeros_like(xp)
    for i in range(KH):
        for j in range(KW):
            dxp[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw] += dwin[..., i, j]
    return dxp[:, :, ph:ph + H, pw:pw + W].clone(), dw, db
