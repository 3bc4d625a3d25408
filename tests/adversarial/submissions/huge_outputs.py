"""Adversarial: return gigantic tensors and deeply nested structures"""
import torch

def _big(*a, **k):
    return torch.zeros(200_000_000, dtype=torch.uint8).expand(8, 200_000_000), None


def _nested(*a, **k):
    v = 0
    for _ in range(10_000):
        v = [v]
    return v, v


linear_forward = linear_backward = relu_forward = relu_backward = mlp_loss = _big
sigmoid_forward = sigmoid_backward = softmax_cross_entropy = mse_loss = _nested
