"""Adversarial: compute the right outputs, then scribble over the inputs"""
import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

def _scribble(v):
    if isinstance(v, torch.Tensor) and v.is_floating_point():
        v.mul_(0.0)
    elif isinstance(v, dict):
        for x in v.values():
            _scribble(x)


def _make(f):
    def g(*a, **k):
        out = f(*a, **k)
        out = tuple(x.clone() if isinstance(x, torch.Tensor) else x for x in out) \
            if isinstance(out, tuple) else out
        for x in list(a) + list(k.values()):
            _scribble(x)
        return out
    return g


linear_forward, linear_backward = _make(linear_forward), _make(linear_backward)
relu_forward, relu_backward = _make(relu_forward), _make(relu_backward)
sigmoid_forward, sigmoid_backward = _make(sigmoid_forward), _make(sigmoid_backward)
softmax_cross_entropy, mse_loss = _make(softmax_cross_entropy), _make(mse_loss)
mlp_loss = _make(mlp_loss)
