"""Correct but slow: every layer and the loss loop over the samples in Python."""

import torch


def linear_forward(x, w, b):
    out = torch.stack([x[n] @ w + b for n in range(x.shape[0])])
    return out, (x, w)


def linear_backward(dout, cache):
    x, w = cache
    dx = torch.zeros_like(x)
    dw = torch.zeros_like(w)
    db = torch.zeros_like(dout[0])
    for n in range(x.shape[0]):
        dx[n] = w @ dout[n]
        dw += torch.outer(x[n], dout[n])
        db += dout[n]
    return dx, dw, db


def relu_forward(x):
    return x.clamp(min=0), x


def relu_backward(dout, cache):
    return torch.where(cache > 0, dout, torch.zeros_like(dout))


def sigmoid_forward(x):
    e = torch.exp(-x.abs())
    out = torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return out, out


def sigmoid_backward(dout, cache):
    return dout * cache * (1 - cache)


def softmax_cross_entropy(logits, y):
    n_rows = logits.shape[0]
    loss = logits.new_zeros(())
    dlogits = torch.zeros_like(logits)
    for n in range(n_rows):
        z = logits[n] - logits[n].max()
        log_sum = torch.log(torch.exp(z).sum())
        loss = loss - (z[y[n]] - log_sum)
        p = torch.exp(z - log_sum)
        dlogits[n] = p
        dlogits[n, y[n]] -= 1
    return loss / n_rows, dlogits / n_rows


def mse_loss(pred, target):
    diff = pred - target
    return 0.5 * (diff * diff).mean(), diff / diff.numel()


def mlp_loss(params, x, y):
    L = sum(1 for k in params if k.startswith("W"))
    h, caches = x, []
    for i in range(1, L + 1):
        h, lin = linear_forward(h, params[f"W{i}"], params[f"b{i}"])
        rc = None
        if i < L:
            h, rc = relu_forward(h)
        caches.append((lin, rc))
    loss, dh = softmax_cross_entropy(h, y)
    grads = {}
    for i in range(L, 0, -1):
        lin, rc = caches[i - 1]
        if rc is not None:
            dh = relu_backward(dh, rc)
        dh, grads[f"W{i}"], grads[f"b{i}"] = linear_backward(dh, lin)
    return loss, grads
