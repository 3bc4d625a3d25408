"""TODO(dlgrade new): another legitimate way to write the solution (must score 100%).
The sample: dw as an einsum."""

import torch


def scale_forward(x, w):
    return x * w, (x, w)


def scale_backward(dout, cache):
    x, w = cache
    return dout * w, torch.einsum("nd,nd->d", dout, x)
