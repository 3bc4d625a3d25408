"""Class-style layers, as a student who wraps each layer in an object with forward and
backward methods writes them (CMU needle / PyTorch module habits); the cache is the layer
object itself, and its attribute names (`var`, `mean`) are the student's own.

Its method is `backward`, as in every such course: the static scan resolves names, so a
student's own `cache.backward(dout)` is free; only autograd's is forbidden (issue 15)."""

import torch


class BatchNorm:
    def __init__(self, gamma, beta, eps, train):
        self.gamma, self.beta, self.eps, self.train = gamma, beta, eps, train

    def _shape(self, x):
        return (1, -1) + (1,) * (x.dim() - 2)

    def forward(self, x, mean, var):
        s = self._shape(x)
        self.inv_std = (var + self.eps).rsqrt().reshape(s)
        self.xhat = (x - mean.reshape(s)) * self.inv_std
        return self.xhat * self.gamma.reshape(s) + self.beta.reshape(s)

    def backward(self, dout):
        dims = [d for d in range(dout.dim()) if d != 1]
        s = self._shape(dout)
        dbeta = dout.sum(dims)
        dgamma = (dout * self.xhat).sum(dims)
        dxhat = dout * self.gamma.reshape(s)
        if not self.train:
            return dxhat * self.inv_std, dgamma, dbeta
        a = dxhat.mean(dims, keepdim=True)
        b = (dxhat * self.xhat).mean(dims, keepdim=True)
        return (dxhat - a - self.xhat * b) * self.inv_std, dgamma, dbeta


class LayerNorm:
    def __init__(self, gamma, beta, eps):
        self.gamma, self.beta, self.eps = gamma, beta, eps

    def forward(self, x):
        self.mean = x.mean(-1, keepdim=True)
        self.var = x.var(-1, unbiased=False, keepdim=True)
        self.inv_std = (self.var + self.eps).rsqrt()
        self.xhat = (x - self.mean) * self.inv_std
        return self.xhat * self.gamma + self.beta

    def backward(self, dout):
        dxhat = dout * self.gamma
        dx = (dxhat - dxhat.mean(-1, keepdim=True)
              - self.xhat * (dxhat * self.xhat).mean(-1, keepdim=True)) * self.inv_std
        D = dout.shape[-1]
        return (dx, torch.einsum("rd,rd->d", dout.reshape(-1, D), self.xhat.reshape(-1, D)),
                dout.reshape(-1, D).sum(0))


def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1,
                      eps=1e-5):
    layer = BatchNorm(gamma, beta, eps, train)
    if not train:
        return layer.forward(x, running_mean, running_var), layer, running_mean.clone(), \
            running_var.clone()
    dims = [d for d in range(x.dim()) if d != 1]
    mean = x.mean(dims)
    var = x.var(dims, unbiased=False)
    unbiased = x.var(dims, unbiased=True)
    out = layer.forward(x, mean, var)
    return (out, layer, torch.lerp(running_mean, mean, momentum),
            torch.lerp(running_var, unbiased, momentum))


def batchnorm_backward(dout, cache):
    return cache.backward(dout)


def layernorm_forward(x, gamma, beta, eps=1e-5):
    layer = LayerNorm(gamma, beta, eps)
    return layer.forward(x), layer


def layernorm_backward(dout, cache):
    return cache.backward(dout)
