"""Adversarial: return objects equal to everything, with tensor-like attributes"""
import torch


class Everything:
    shape = property(lambda self: self.real.shape)
    dtype = property(lambda self: self.real.dtype)

    def __init__(self, real):
        self.real = real

    def __eq__(self, other):
        return True

    def __float__(self):
        return 0.0

    def __array__(self, *a, **k):
        return self.real.numpy()

    def __getattr__(self, name):
        return getattr(self.real, name)


def _e(t):
    return Everything(t)

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

def _wrapv(v):
    if isinstance(v, torch.Tensor):
        return Everything(v)
    if isinstance(v, tuple):
        return tuple(_wrapv(x) for x in v)
    if isinstance(v, dict):
        return {k: _wrapv(x) for k, x in v.items()}
    return v


def _make(f):
    return lambda *a, **k: _wrapv(f(*a, **k))


linear_forward, linear_backward = _make(linear_forward), _make(linear_backward)
relu_forward, relu_backward = _make(relu_forward), _make(relu_backward)
sigmoid_forward, sigmoid_backward = _make(sigmoid_forward), _make(sigmoid_backward)
softmax_cross_entropy, mse_loss = _make(softmax_cross_entropy), _make(mse_loss)
mlp_loss = _make(mlp_loss)
