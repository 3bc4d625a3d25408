"""Adversarial: hide forbidden calls and tampering inside exec'd strings"""
import torch

def _z(*shape_like):
    return torch.zeros(1, dtype=torch.float64)


def linear_forward(x, w, b):
    return torch.zeros(x.shape[0], w.shape[1], dtype=x.dtype), (x, w)


def linear_backward(dout, cache):
    x, w = cache
    return torch.zeros_like(x), torch.zeros_like(w), torch.zeros(w.shape[1], dtype=w.dtype)


def relu_forward(x):
    return torch.zeros_like(x), x


def relu_backward(dout, cache):
    return torch.zeros_like(dout)


def sigmoid_forward(x):
    return torch.zeros_like(x), x


def sigmoid_backward(dout, cache):
    return torch.zeros_like(dout)


def softmax_cross_entropy(logits, y):
    return torch.zeros((), dtype=logits.dtype), torch.zeros_like(logits)


def mse_loss(pred, target):
    return torch.zeros((), dtype=pred.dtype), torch.zeros_like(pred)


def mlp_loss(params, x, y):
    return torch.zeros((), dtype=x.dtype), {k: torch.zeros_like(v) for k, v in params.items()}

exec("import torch.nn.functional as F\ndef relu_forward(x):\n    return F.relu(x), x > 0\n")
