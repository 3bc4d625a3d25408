"""A legitimate "mytorch"-style set of optimizers: SGD, RMSprop, Adagrad, Adam and AdamW
objects with a `step` method, AdamW a subclass of Adam.

Each object turns the state dict into attributes, takes one step and hands back a new
state dict. The class names are the student's own, however much they sound like
torch.optim's.
"""

from builtins import range  # noqa: F401, UP029 (the first line of many CS231n layers.py)

import torch


class Optimizer:
    def __init__(self, lr, weight_decay=0.0):
        self.lr, self.weight_decay = lr, weight_decay

    def grad(self, w, dw):
        """The gradient with L2 weight decay added (a new tensor)."""
        return dw + self.weight_decay * w


class SGD(Optimizer):
    def __init__(self, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.momentum = momentum

    def step(self, w, dw, state):
        g = self.grad(w, dw)
        v = g if state is None else self.momentum * state["velocity"] + g
        return w - self.lr * v, {"velocity": v}


class RMSprop(Optimizer):
    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.alpha, self.eps = alpha, eps

    def step(self, w, dw, state):
        g = self.grad(w, dw)
        sq = torch.zeros_like(w) if state is None else state["square_avg"]
        sq = self.alpha * sq + (1 - self.alpha) * g * g
        return w - self.lr * g / (torch.sqrt(sq) + self.eps), {"square_avg": sq}


class Adagrad(Optimizer):
    def __init__(self, lr=1e-2, eps=1e-10, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.eps = eps

    def step(self, w, dw, state):
        g = self.grad(w, dw)
        total = g * g if state is None else state["sum"] + g * g
        return w - self.lr * g / (torch.sqrt(total) + self.eps), {"sum": total}


class Adam(Optimizer):
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps

    def load(self, w, state):
        if state is None:
            self.t, self.m, self.v = 0, torch.zeros_like(w), torch.zeros_like(w)
        else:
            self.t, self.m, self.v = state["step"], state["m"], state["v"]

    def update(self, w, g):
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        m_hat = self.m / (1 - self.beta1 ** self.t)
        v_hat = self.v / (1 - self.beta2 ** self.t)
        return w - self.lr * m_hat / (torch.sqrt(v_hat) + self.eps)

    def step(self, w, dw, state):
        self.load(w, state)
        w_new = self.update(w, self.grad(w, dw))
        return w_new, {"step": self.t, "m": self.m, "v": self.v}


class AdamW(Adam):
    """Adam with decoupled weight decay: w shrinks first, the gradient is left alone."""

    def step(self, w, dw, state):
        self.load(w, state)
        w_new = self.update((1 - self.lr * self.weight_decay) * w, dw)
        return w_new, {"step": self.t, "m": self.m, "v": self.v}


def sgd_momentum_step(w, dw, state, lr, momentum=0.9, weight_decay=0.0):
    return SGD(lr, momentum, weight_decay).step(w, dw, state)


def rmsprop_step(w, dw, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    return RMSprop(lr, alpha, eps, weight_decay).step(w, dw, state)


def adagrad_step(w, dw, state, lr=1e-2, eps=1e-10, weight_decay=0.0):
    return Adagrad(lr, eps, weight_decay).step(w, dw, state)


def adam_step(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    return Adam(lr, betas, eps, weight_decay).step(w, dw, state)


def adamw_step(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return AdamW(lr, betas, eps, weight_decay).step(w, dw, state)
