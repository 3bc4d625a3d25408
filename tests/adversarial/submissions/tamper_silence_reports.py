"""Adversarial (issue 14, item 1): reach the worker's module through computed names
(os.sys.modules, names built from character codes: nothing for the static scan to resolve)
and make every reply report no ops, no torch functions, no in-place writes and no
autograd; then use torch.relu, torch.sigmoid and torch.softmax."""
import os

import torch


def _s(*codes):  # names built at run time: no constant in the file spells them
    return "".join(map(chr, codes))


_W = getattr(getattr(os, _s(115, 121, 115)), _s(109, 111, 100, 117, 108, 101, 115))[_s(103, 114, 97, 100, 101, 114, 46, 98, 111, 117, 110, 100, 97, 114, 121, 46, 119, 111, 114, 107, 101, 114)].Worker
_call = _W.call


def _silent(self, req, msg):
    reply, enc = _call(self, req, msg)
    if "ops" in reply:
        reply.update(ops=[], functions=[], mutated=[], autograd=False)
    return reply, enc


_W.call = _silent
_relu, _sig, _smax = (getattr(torch, n) for n in (_s(114, 101, 108, 117), _s(115, 105, 103, 109, 111, 105, 100), _s(115, 111, 102, 116, 109, 97, 120)))


def linear_forward(x, w, b):
    return x @ w + b, (x, w)


def linear_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(0)


def relu_forward(x):
    return _relu(x), x > 0


def relu_backward(dout, cache):
    return dout * cache


def sigmoid_forward(x):
    s = _sig(x)
    return s, s


def sigmoid_backward(dout, cache):
    return dout * cache * (1.0 - cache)


def softmax_cross_entropy(logits, y):
    n = logits.shape[0]
    probs = _smax(logits, dim=1)
    loss = -torch.log(probs.gather(1, y[:, None])).mean()
    onehot = torch.zeros_like(probs).scatter_(1, y[:, None], 1.0)
    return loss, (probs - onehot) / n


def mse_loss(pred, target):
    d = pred - target
    return 0.5 * torch.mean(d ** 2), d / d.numel()


def mlp_loss(params, x, y):
    layers = sorted(int(k[1:]) for k in params if k[0] == "W")
    acts, caches = x, []
    for i in layers:
        acts, c = linear_forward(acts, params[f"W{i}"], params[f"b{i}"])
        r = None
        if i != layers[-1]:
            acts, r = relu_forward(acts)
        caches.append((c, r))
    loss, g = softmax_cross_entropy(acts, y)
    grads = {}
    for i, (c, r) in zip(reversed(layers), reversed(caches)):
        if r is not None:
            g = relu_backward(g, r)
        g, grads[f"W{i}"], grads[f"b{i}"] = linear_backward(g, c)
    return loss, grads
