"""A legitimate "mytorch"-style MLP: layer objects with forward/backward methods.

Each API function builds a fresh layer object and returns it as the cache, so a backward
reads only the state of its own forward and can run any number of times. The names are
the student's own, however much they sound like the library's (a Softmax class, an
attribute `self.relu`, `from builtins import range`): the static scan must not mistake
them for torch's.
"""

from builtins import range  # noqa: UP029 (as in many CS231n layers.py)

import torch


class Linear:
    def forward(self, x, w, b):
        self.x, self.w = x, w
        return x @ w + b  # (N, M)

    def backward(self, dout):
        return dout @ self.w.T, self.x.T @ dout, dout.sum(dim=0)


class ReLU:
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dout):
        return torch.where(self.mask, dout, torch.zeros_like(dout))


class Sigmoid:
    def forward(self, x):
        e = torch.exp(-x.abs())  # <= 1: never overflows
        self.out = torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return self.out

    def backward(self, dout):
        return dout * self.out * (1 - self.out)


class Softmax:
    """Row-wise softmax, kept in the log domain for stability."""

    def __init__(self, dim=-1):
        self.dim = dim

    def log_forward(self, z):
        z = z - z.max(dim=self.dim, keepdim=True).values
        return z - torch.log(torch.exp(z).sum(dim=self.dim, keepdim=True))


class CrossEntropyLoss:
    def __init__(self):
        self.softmax = Softmax(dim=1)

    def forward(self, logits, y):
        self.log_p = self.softmax.log_forward(logits)  # (N, C)
        self.y = y
        rows = torch.arange(logits.shape[0], device=logits.device)
        return -self.log_p[rows, y].mean()

    def backward(self):
        N = self.log_p.shape[0]
        onehot = torch.zeros_like(self.log_p)
        onehot[torch.arange(N, device=onehot.device), self.y] = 1
        return (torch.exp(self.log_p) - onehot) / N


class MSELoss:
    def forward(self, pred, target):
        self.diff = pred - target
        return 0.5 * (self.diff * self.diff).mean()

    def backward(self):
        return self.diff / self.diff.numel()


class MLP:
    def __init__(self, params):
        self.L = sum(1 for k in params if k.startswith("W"))
        self.params = params
        self.layers = []
        for i in range(1, self.L + 1):
            self.layers.append(Linear())
            if i < self.L:
                self.layers.append(ReLU())
        self.loss = CrossEntropyLoss()

    def forward(self, x, y):
        h = x
        i = 1
        for layer in self.layers:
            if isinstance(layer, Linear):
                h = layer.forward(h, self.params[f"W{i}"], self.params[f"b{i}"])
                i += 1
            else:
                h = layer.forward(h)
        return self.loss.forward(h, y)

    def backward(self):
        grads = {}
        d = self.loss.backward()
        i = self.L
        for layer in reversed(self.layers):
            if isinstance(layer, Linear):
                d, grads[f"W{i}"], grads[f"b{i}"] = layer.backward(d)
                i -= 1
            else:
                d = layer.backward(d)
        return grads


def linear_forward(x, w, b):
    layer = Linear()
    return layer.forward(x, w, b), layer


def linear_backward(dout, cache):
    return cache.backward(dout)


def relu_forward(x):
    layer = ReLU()
    return layer.forward(x), layer


def relu_backward(dout, cache):
    return cache.backward(dout)


def sigmoid_forward(x):
    layer = Sigmoid()
    return layer.forward(x), layer


def sigmoid_backward(dout, cache):
    return cache.backward(dout)


def softmax_cross_entropy(logits, y):
    loss = CrossEntropyLoss()
    return loss.forward(logits, y), loss.backward()


def mse_loss(pred, target):
    loss = MSELoss()
    return loss.forward(pred, target), loss.backward()


def mlp_loss(params, x, y):
    model = MLP(params)
    loss = model.forward(x, y)
    return loss, model.backward()
