"""Inverted dropout one unit at a time, the way a first attempt indexes tensors (correct
but slow): the uniforms are drawn in one call, as the generator contract requires, then
every unit is read and written as a 0-D tensor. Unlike naive_elementwise (Python floats
from tolist()), every unit dispatches tensor ops, so the op count grows with the batch."""

import torch


def dropout_forward(x, p, train=True, generator=None):
    if not train:
        return x, None
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    flat_x, flat_u = x.reshape(-1), u.reshape(-1)
    mask = torch.zeros_like(flat_x)
    out = torch.zeros_like(flat_x)
    for i in range(flat_x.numel()):
        if flat_u[i] >= p:
            mask[i] = scale
            out[i] = flat_x[i] * scale
    return out.reshape(x.shape), mask.reshape(x.shape)


def dropout_backward(dout, cache):
    if cache is None:
        return dout.clone()
    flat, mask = dout.reshape(-1), cache.reshape(-1)
    dx = torch.empty_like(flat)
    for i in range(flat.numel()):
        dx[i] = flat[i] * mask[i]
    return dx.reshape(dout.shape)
