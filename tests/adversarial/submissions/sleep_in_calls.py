"""Adversarial: every function sleeps for 1000 s"""
import time

import torch

def _sleep(*a, **k):
    time.sleep(1000)


linear_forward = linear_backward = relu_forward = relu_backward = _sleep
sigmoid_forward = sigmoid_backward = softmax_cross_entropy = mse_loss = mlp_loss = _sleep
