"""Pooling on an as_strided window view; max backward via index_add_ of the argmax
positions, average backward by adding each kernel offset's slab (a loop over KH*KW
offsets, vectorized over batch, channels and positions)."""

import torch


def _pair(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _geometry(x, kernel_size, stride):
    KH, KW = _pair(kernel_size)
    sh, sw = _pair(kernel_size) if stride is None else _pair(stride)
    N, C, H, W = x.shape
    Ho, Wo = (H - KH) // sh + 1, (W - KW) // sw + 1
    return N, C, H, W, KH, KW, sh, sw, Ho, Wo


def _view(x, g):
    N, C, H, W, KH, KW, sh, sw, Ho, Wo = g
    x = x.contiguous()
    s = x.stride()
    return x.as_strided((N, C, Ho, Wo, KH, KW), (s[0], s[1], s[2] * sh, s[3] * sw, s[2], s[3]))


def maxpool2d_forward(x, kernel_size, stride=None):
    g = _geometry(x, kernel_size, stride)
    N, C, H, W, KH, KW, sh, sw, Ho, Wo = g
    flat = _view(x, g).reshape(N, C, Ho, Wo, KH * KW)
    arg = flat.argmax(dim=-1)  # first maximum
    out = flat.gather(-1, arg.unsqueeze(-1)).squeeze(-1)
    r = torch.arange(Ho, device=x.device).view(Ho, 1) * sh + arg // KW
    c = torch.arange(Wo, device=x.device) * sw + arg % KW
    pos = (r * W + c) + (torch.arange(N * C, device=x.device) * (H * W)).view(N, C, 1, 1)
    return out, (g, pos)


def maxpool2d_backward(dout, cache):
    (N, C, H, W, *_), pos = cache
    dx = torch.zeros(N * C * H * W, dtype=dout.dtype, device=dout.device)
    dx.index_add_(0, pos.reshape(-1), dout.reshape(-1))
    return dx.view(N, C, H, W)


def avgpool2d_forward(x, kernel_size, stride=None):
    g = _geometry(x, kernel_size, stride)
    return _view(x, g).mean(dim=(-2, -1)), g


def avgpool2d_backward(dout, cache):
    N, C, H, W, KH, KW, sh, sw, Ho, Wo = cache
    dx = dout.new_zeros(N, C, H, W)
    share = dout / (KH * KW)
    for i in range(KH):
        for j in range(KW):
            dx[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw] += share
    return dx
