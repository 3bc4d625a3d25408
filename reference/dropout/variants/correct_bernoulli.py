"""Inverted dropout with torch.bernoulli; the cache holds the 0/1 mask and the scale."""

import torch


def dropout_forward(x, p, train=True, generator=None):
    if not train or p == 0:
        return x, None  # the identity: returning x itself is allowed here
    keep_prob = torch.full_like(x, 1.0 - p)
    keep = torch.bernoulli(keep_prob, generator=generator)  # 1 with probability 1 - p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return keep * x * scale, (keep, scale)


def dropout_backward(dout, cache):
    if cache is None:
        return dout.clone()
    keep, scale = cache
    return keep * dout * scale
