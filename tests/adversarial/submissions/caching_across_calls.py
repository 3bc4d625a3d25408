"""Adversarial: remember the first answer of each function and replay it on every later call"""
import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

_memo = {}


def _replay(name, f):
    def g(*a, **k):
        if name not in _memo:
            _memo[name] = f(*a, **k)
        return _memo[name]
    return g


linear_forward, linear_backward = _replay('lf', linear_forward), _replay('lb', linear_backward)
relu_forward, relu_backward = _replay('rf', relu_forward), _replay('rb', relu_backward)
sigmoid_forward, sigmoid_backward = _replay('sf', sigmoid_forward), _replay('sb', sigmoid_backward)
softmax_cross_entropy, mse_loss = _replay('ce', softmax_cross_entropy), _replay('mse', mse_loss)
mlp_loss = _replay('mlp', mlp_loss)
