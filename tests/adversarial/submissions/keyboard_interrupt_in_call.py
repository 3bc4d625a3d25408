"""Adversarial: every function raises KeyboardInterrupt"""
import torch

def _boom(*a, **k):
    raise KeyboardInterrupt


linear_forward = linear_backward = relu_forward = relu_backward = _boom
sigmoid_forward = sigmoid_backward = softmax_cross_entropy = mse_loss = mlp_loss = _boom
