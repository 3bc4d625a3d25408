"""Adversarial: raise exceptions with 8 MB messages and deep tracebacks"""
import torch

def _noisy(*a, **k):
    raise ValueError("z" * (8 * 1024 * 1024))


linear_forward = linear_backward = relu_forward = relu_backward = _noisy
sigmoid_forward = sigmoid_backward = softmax_cross_entropy = mse_loss = mlp_loss = _noisy
