"""Correct but slow: statistics and normalization one sample and one channel at a time
(batch norm) and one row at a time (layer norm), as a first translation of the formulas
into loops. Full correctness points; it must fail the performance tests."""

import torch


def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1,
                      eps=1e-5):
    N, C = x.shape[0], x.shape[1]
    out = torch.empty_like(x)
    means, variances = [], []
    new_mean, new_var = running_mean.clone(), running_var.clone()
    inv_stds = []
    for c in range(C):
        if train:
            total = x[0, c].sum() * 0
            for n in range(N):
                total = total + x[n, c].sum()
            M = x[:, c].numel()
            mu = total / M
            sq = total * 0
            for n in range(N):
                sq = sq + ((x[n, c] - mu) ** 2).sum()
            var = sq / M
            new_mean[c] = (1 - momentum) * running_mean[c] + momentum * mu
            new_var[c] = (1 - momentum) * running_var[c] + momentum * sq / (M - 1)
        else:
            mu, var = running_mean[c], running_var[c]
        inv_std = 1.0 / torch.sqrt(var + eps)
        for n in range(N):
            out[n, c] = gamma[c] * (x[n, c] - mu) * inv_std + beta[c]
        means.append(mu)
        variances.append(var)
        inv_stds.append(inv_std)
    return out, (x, gamma, means, inv_stds, train), new_mean, new_var


def batchnorm_backward(dout, cache):
    x, gamma, means, inv_stds, train = cache
    C = x.shape[1]
    dx = torch.empty_like(dout)
    dgamma = torch.zeros_like(gamma)
    dbeta = torch.zeros_like(gamma)
    for c in range(C):
        xhat = (x[:, c] - means[c]) * inv_stds[c]
        g = dout[:, c]
        dbeta[c] = g.sum()
        dgamma[c] = (g * xhat).sum()
        dxhat = g * gamma[c]
        if train:
            dx[:, c] = inv_stds[c] * (dxhat - dxhat.mean() - xhat * (dxhat * xhat).mean())
        else:
            dx[:, c] = dxhat * inv_stds[c]
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, eps=1e-5):
    D = x.shape[-1]
    rows = x.reshape(-1, D)
    out = torch.empty_like(rows)
    stats = []
    for i in range(rows.shape[0]):
        mu = rows[i].mean()
        var = ((rows[i] - mu) ** 2).mean()
        inv_std = 1.0 / torch.sqrt(var + eps)
        out[i] = gamma * (rows[i] - mu) * inv_std + beta
        stats.append((mu, inv_std))
    return out.reshape(x.shape), (x, gamma, stats)


def layernorm_backward(dout, cache):
    x, gamma, stats = cache
    D = x.shape[-1]
    rows, grads = x.reshape(-1, D), dout.reshape(-1, D)
    dx = torch.empty_like(grads)
    dgamma = torch.zeros_like(gamma)
    dbeta = torch.zeros_like(gamma)
    for i, (mu, inv_std) in enumerate(stats):
        xhat = (rows[i] - mu) * inv_std
        dbeta = dbeta + grads[i]
        dgamma = dgamma + grads[i] * xhat
        dxhat = grads[i] * gamma
        dx[i] = inv_std * (dxhat - dxhat.mean() - xhat * (dxhat * xhat).mean())
    return dx.reshape(dout.shape), dgamma, dbeta
