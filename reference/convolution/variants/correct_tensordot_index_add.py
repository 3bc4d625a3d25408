"""Convolution with a Tensor.unfold window view and tensordot; col2im written out with
index_add_ on a precomputed index of every window element in the padded image."""

import torch


def _pair(v):
    if isinstance(v, (tuple, list)):
        return tuple(int(a) for a in v)
    return (int(v), int(v))


def _window_index(Hp, Wp, KH, KW, sh, sw, Ho, Wo, device):
    """(Ho, Wo, KH, KW) flat index (row * Wp + col) of every window element."""
    rows = (torch.arange(Ho, device=device) * sh)[:, None] + torch.arange(KH, device=device)
    cols = (torch.arange(Wo, device=device) * sw)[:, None] + torch.arange(KW, device=device)
    return rows[:, None, :, None] * Wp + cols[None, :, None, :]


def conv2d_forward(x, w, b, stride=1, padding=0):
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    xp = torch.nn.functional.pad(x, (pw, pw, ph, ph))
    KH, KW = w.shape[2], w.shape[3]
    win = xp.unfold(2, KH, sh).unfold(3, KW, sw)  # (N, C, Ho, Wo, KH, KW)
    out = torch.tensordot(win, w, dims=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, F)
    if b is not None:
        out = out + b
    return out.permute(0, 3, 1, 2).contiguous(), (x.shape, w, b is not None, win, (sh, sw),
                                                  (ph, pw))


def conv2d_backward(dout, cache):
    (N, C, H, W), w, has_bias, win, (sh, sw), (ph, pw) = cache
    F, _, KH, KW = w.shape
    Ho, Wo = dout.shape[2], dout.shape[3]
    dw = torch.tensordot(dout, win, dims=([0, 2, 3], [0, 2, 3]))  # (F, C, KH, KW)
    db = dout.sum(dim=(0, 2, 3)) if has_bias else None
    dwin = torch.tensordot(dout, w, dims=([1], [0]))  # (N, Ho, Wo, C, KH, KW)
    Hp, Wp = H + 2 * ph, W + 2 * pw
    idx = _window_index(Hp, Wp, KH, KW, sh, sw, Ho, Wo, dout.device)  # (Ho, Wo, KH, KW)
    src = dwin.permute(0, 3, 1, 2, 4, 5).reshape(N, C, -1)
    dxp = dout.new_zeros(N, C, Hp * Wp).index_add_(2, idx.reshape(-1), src)
    dx = dxp.reshape(N, C, Hp, Wp)[:, :, ph:ph + H, pw:pw + W]
    return dx, dw, db
