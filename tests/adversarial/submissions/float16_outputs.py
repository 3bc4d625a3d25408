"""Adversarial: compute correctly, then return every tensor in float16"""
import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

def _half(v):
    if isinstance(v, torch.Tensor) and v.is_floating_point():
        return v.half()
    if isinstance(v, tuple):
        return tuple(_half(x) for x in v)
    if isinstance(v, dict):
        return {k: _half(x) for k, x in v.items()}
    return v


def _make(f):
    return lambda *a, **k: _half(f(*a, **k))


linear_forward, linear_backward = _make(linear_forward), _make(linear_backward)
relu_forward, relu_backward = _make(relu_forward), _make(relu_backward)
sigmoid_forward, sigmoid_backward = _make(sigmoid_forward), _make(sigmoid_backward)
softmax_cross_entropy, mse_loss = _make(softmax_cross_entropy), _make(mse_loss)
mlp_loss = _make(mlp_loss)
