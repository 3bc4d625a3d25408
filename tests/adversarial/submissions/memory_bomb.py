"""Adversarial: allocate and touch memory until something stops it, in every call"""
import torch

def _bomb(*a, **k):
    hog = []
    while True:
        hog.append(torch.ones(64 * 1024 * 1024 // 8, dtype=torch.float64))


linear_forward = linear_backward = relu_forward = relu_backward = _bomb
sigmoid_forward = sigmoid_backward = softmax_cross_entropy = mse_loss = mlp_loss = _bomb
