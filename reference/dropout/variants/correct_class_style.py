"""A legitimate "mytorch"-style dropout: a Dropout layer object with forward/backward
methods and a `train` flag, as in CMU 11-785's mytorch.

The class is called Dropout and its instance `self.dropout`: the student's own names,
which the static scan must not take for torch.nn.Dropout or torch.dropout.
"""

from builtins import range  # noqa: F401, UP029 (the first line of many CS231n layers.py)

import torch


class Dropout:
    def __init__(self, p=0.5):
        self.p = p
        self.train = True

    def forward(self, x, generator=None):
        if not self.train:
            self.mask = None
            return x
        keep = (torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
                >= self.p)
        scale = 0.0 if self.p >= 1 else 1.0 / (1.0 - self.p)
        self.mask = keep.to(x.dtype) * scale
        return x * self.mask

    def backward(self, delta):
        if self.mask is None:
            return delta.clone()
        return delta * self.mask


class Model:
    def __init__(self, p):
        self.dropout = Dropout(p)


def dropout_forward(x, p, train=True, generator=None):
    model = Model(p)
    model.dropout.train = train
    return model.dropout.forward(x, generator), model.dropout


def dropout_backward(dout, cache):
    return cache.backward(dout)
