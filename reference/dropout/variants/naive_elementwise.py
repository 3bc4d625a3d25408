"""Inverted dropout one element at a time (correct but slow): the uniforms are drawn in
one call, as the generator contract requires, and the mask is built element by element."""

import torch


def dropout_forward(x, p, train=True, generator=None):
    if not train:
        return x, None
    u = torch.rand(x.shape, generator=generator, dtype=torch.float64, device=x.device)
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    draws = u.reshape(-1).tolist()
    mask_values = []
    for d in draws:
        mask_values.append(scale if d >= p else 0.0)
    mask = torch.tensor(mask_values, dtype=x.dtype, device=x.device).reshape(x.shape)
    out_values = []
    for xi, mi in zip(x.reshape(-1).tolist(), mask_values):
        out_values.append(xi * mi)
    out = torch.tensor(out_values, dtype=x.dtype, device=x.device).reshape(x.shape)
    return out, mask


def dropout_backward(dout, cache):
    if cache is None:
        return dout.clone()
    values = [g * m for g, m in zip(dout.reshape(-1).tolist(), cache.reshape(-1).tolist())]
    return torch.tensor(values, dtype=dout.dtype, device=dout.device).reshape(dout.shape)
