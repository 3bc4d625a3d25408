"""Adversarial: every function recurses past the C stack"""
import sys

import torch

sys.setrecursionlimit(10**8)

def _deep(n=0):
    return _deep(n + 1) + 1


def _crash(*a, **k):
    return _deep()


linear_forward = linear_backward = relu_forward = relu_backward = _crash
sigmoid_forward = sigmoid_backward = softmax_cross_entropy = mse_loss = mlp_loss = _crash
