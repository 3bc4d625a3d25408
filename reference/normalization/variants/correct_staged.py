"""Two passes and a staged backward: the mean, then the variance of the centered values
(never E[x^2] - mu^2), and a backward that walks the computation graph node by node
(dxhat -> dvar -> dmu -> dx), as the lectures draw it."""

import torch


def _dims(x):
    return [0] if x.dim() == 2 else [0, 2, 3]


def _view(v, x):
    return v.view(1, -1) if x.dim() == 2 else v.view(1, -1, 1, 1)


def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1,
                      eps=1e-5):
    dims = _dims(x)
    if train:
        mu = torch.mean(x, dim=dims)
        xc = x - _view(mu, x)
        var = torch.mean(xc ** 2, dim=dims)
        M = x.numel() // x.shape[1]
        unbiased = torch.sum(xc ** 2, dim=dims) / (M - 1)
        new_mean = momentum * mu + (1.0 - momentum) * running_mean
        new_var = momentum * unbiased + (1.0 - momentum) * running_var
    else:
        mu, var = running_mean, running_var
        xc = x - _view(mu, x)
        new_mean, new_var = running_mean.detach().clone(), running_var.detach().clone()
    istd = 1.0 / torch.sqrt(var + eps)
    xhat = xc * _view(istd, x)
    out = xhat * _view(gamma, x) + _view(beta, x)
    return out, (x, xc, var, istd, xhat, gamma, eps, train), new_mean, new_var


def batchnorm_backward(dout, cache):
    x, xc, var, istd, xhat, gamma, eps, train = cache
    dims = _dims(x)
    M = x.numel() // x.shape[1]
    dbeta = torch.sum(dout, dim=dims)
    dgamma = torch.sum(dout * xhat, dim=dims)
    dxhat = dout * _view(gamma, x)
    if not train:
        return dxhat * _view(istd, x), dgamma, dbeta
    dvar = torch.sum(dxhat * xc, dim=dims) * -0.5 * (var + eps) ** -1.5
    dmu = torch.sum(-dxhat * _view(istd, x), dim=dims) \
        + dvar * torch.mean(-2.0 * xc, dim=dims)
    dx = dxhat * _view(istd, x) + _view(dvar, x) * 2.0 * xc / M + _view(dmu, x) / M
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, eps=1e-5):
    mu = torch.mean(x, dim=-1, keepdim=True)
    xc = x - mu
    var = torch.mean(xc ** 2, dim=-1, keepdim=True)
    istd = (var + eps) ** -0.5
    xhat = xc * istd
    return xhat * gamma + beta, (xc, var, istd, xhat, gamma, eps)


def layernorm_backward(dout, cache):
    xc, var, istd, xhat, gamma, eps = cache
    D = dout.shape[-1]
    dxhat = dout * gamma
    dvar = torch.sum(dxhat * xc, dim=-1, keepdim=True) * -0.5 * (var + eps) ** -1.5
    dmu = -torch.sum(dxhat * istd, dim=-1, keepdim=True) \
        + dvar * torch.mean(-2.0 * xc, dim=-1, keepdim=True)
    dx = dxhat * istd + dvar * 2.0 * xc / D + dmu / D
    lead = list(range(dout.dim() - 1))
    if lead:
        return dx, torch.sum(dout * xhat, dim=lead), torch.sum(dout, dim=lead)
    return dx, dout * xhat, dout.clone()
