"""Adversarial: return a Tensor subclass whose comparisons and methods lie"""
import torch


class Liar(torch.Tensor):
    def __eq__(self, other):
        return True

    def allclose(self, *a, **k):
        return True

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func.__name__ in ("allclose", "equal", "isclose", "eq", "__eq__"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def _lie(t):
    return torch.zeros_like(t).as_subclass(Liar)

def _z(*shape_like):
    return torch.zeros(1, dtype=torch.float64)


def linear_forward(x, w, b):
    return torch.zeros(x.shape[0], w.shape[1], dtype=x.dtype), (x, w)


def linear_backward(dout, cache):
    x, w = cache
    return _lie(x), _lie(w), torch.zeros(w.shape[1], dtype=w.dtype)


def relu_forward(x):
    return _lie(x), x


def relu_backward(dout, cache):
    return _lie(dout)


def sigmoid_forward(x):
    return _lie(x), x


def sigmoid_backward(dout, cache):
    return _lie(dout)


def softmax_cross_entropy(logits, y):
    return torch.zeros((), dtype=logits.dtype), _lie(logits)


def mse_loss(pred, target):
    return torch.zeros((), dtype=pred.dtype), _lie(pred)


def mlp_loss(params, x, y):
    return torch.zeros((), dtype=x.dtype), {k: _lie(v) for k, v in params.items()}
