"""Adversarial: patch torch.Tensor.__eq__, __sub__, abs and max, return zeros"""
import torch
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
torch.Tensor.__ne__ = lambda self, other: torch.zeros((), dtype=torch.bool)
torch.Tensor.__sub__ = lambda self, other: torch.zeros_like(self)
torch.Tensor.abs = lambda self: torch.zeros_like(self)
torch.Tensor.max = lambda self, *a, **k: torch.zeros((), dtype=self.dtype)

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
