"""Inverted dropout with Tensor.uniform_ and torch.where; the cache is a boolean mask."""

import torch


def dropout_forward(x, p, train=True, generator=None):
    if not train:
        return x.clone(), None
    u = torch.empty_like(x).uniform_(0.0, 1.0, generator=generator)
    keep = u < 1.0 - p  # probability 1 - p; never for p = 1, always for p = 0
    if p == 1:
        return torch.zeros_like(x), (keep, 0.0)
    out = torch.where(keep, x / (1.0 - p), torch.zeros_like(x))
    return out, (keep, p)


def dropout_backward(dout, cache):
    if cache is None:
        return dout.clone()
    keep, p = cache
    if p == 1:
        return torch.zeros_like(dout)
    return torch.where(keep, dout / (1.0 - p), torch.zeros_like(dout))
