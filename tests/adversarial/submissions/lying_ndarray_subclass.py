"""Adversarial: return numpy ndarray subclasses that claim equality"""
import numpy
import torch


class Liar(numpy.ndarray):
    def __eq__(self, other):
        return True

    def __array_finalize__(self, obj):
        pass


def _lie(t):
    return numpy.zeros(tuple(t.shape)).view(Liar)

def _z(*shape_like):
    return numpy.zeros(1, dtype=torch.float64)


def linear_forward(x, w, b):
    return numpy.zeros(x.shape[0], w.shape[1], dtype=x.dtype), (x, w)


def linear_backward(dout, cache):
    x, w = cache
    return _lie(x), _lie(w), numpy.zeros(w.shape[1], dtype=w.dtype)


def relu_forward(x):
    return _lie(x), x


def relu_backward(dout, cache):
    return _lie(dout)


def sigmoid_forward(x):
    return _lie(x), x


def sigmoid_backward(dout, cache):
    return _lie(dout)


def softmax_cross_entropy(logits, y):
    return numpy.zeros((), dtype=logits.dtype), _lie(logits)


def mse_loss(pred, target):
    return numpy.zeros((), dtype=pred.dtype), _lie(pred)


def mlp_loss(params, x, y):
    return numpy.zeros((), dtype=x.dtype), {k: _lie(v) for k, v in params.items()}
