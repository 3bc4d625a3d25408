"""Adversarial: import grader.boundary.worker and neuter the op recorder, then use F.relu and friends"""
import grader.boundary.worker
import torch

grader.boundary.worker.OpRecorder.__torch_dispatch__ = lambda self, func, types, args=(), kwargs=None: func(*args, **(kwargs or {}))

def linear_forward(x, w, b):
    return torch.einsum("nd,dm->nm", x, w) + b, (x, w)


def linear_backward(dout, cache):
    x, w = cache
    return (torch.einsum("nm,dm->nd", dout, w), torch.einsum("nd,nm->dm", x, dout),
            dout.sum(0))


def relu_forward(x):
    return torch.relu(x), x > 0


def relu_backward(dout, cache):
    return dout * cache


def sigmoid_forward(x):
    z = torch.exp(-torch.abs(x))
    s = torch.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))
    return s, s


def sigmoid_backward(dout, cache):
    return dout * cache * (1.0 - cache)


def softmax_cross_entropy(logits, y):
    n = logits.shape[0]
    m = logits.amax(dim=1, keepdim=True)
    lse = m + torch.log(torch.exp(logits - m).sum(dim=1, keepdim=True))
    loss = (lse.squeeze(1) - logits.gather(1, y[:, None]).squeeze(1)).mean()
    probs = torch.exp(logits - lse)
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
