"""Inverted dropout with torch.rand(*shape) (0-D inputs handled apart), and a small
cache object (a dataclass) instead of a tuple."""

from dataclasses import dataclass

import torch


@dataclass
class _Cache:
    mask: torch.Tensor | None  # scaled mask, or None in evaluation mode


def dropout_forward(x, p, train=True, generator=None):
    if not train:
        return x, _Cache(None)
    u = torch.rand(*x.shape, generator=generator, dtype=x.dtype, device=x.device) if x.dim() \
        else torch.rand((), generator=generator, dtype=x.dtype, device=x.device)
    keep = (u >= p).to(x.dtype)
    mask = keep / (1.0 - p) if p < 1.0 else keep * 0.0
    return mask * x, _Cache(mask)


def dropout_backward(dout, cache):
    if cache.mask is None:
        return dout + 0  # a new tensor equal to dout
    return cache.mask * dout
