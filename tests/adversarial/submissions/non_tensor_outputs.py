"""Adversarial: return lists, strings, None and floats instead of tensors"""
import torch

def linear_forward(x, w, b):
    return (x @ w + b).tolist(), (x, w)


def linear_backward(dout, cache):
    return "dx", None, 0.0


def relu_forward(x):
    return x.clamp(min=0).tolist(), x


def relu_backward(dout, cache):
    return None


def sigmoid_forward(x):
    return [[0.5]], x


def sigmoid_backward(dout, cache):
    return float("nan")


def softmax_cross_entropy(logits, y):
    return "loss", []


def mse_loss(pred, target):
    return 0.0, {}


def mlp_loss(params, x, y):
    return None, None
