"""Batch and layer normalization with the fused backward formula written with sums and
1/M (CS231n's "simplified" backward, which keeps every term), statistics over a
(C, M) view for batch norm, and rsqrt-free 1 / sqrt."""

import torch


def _channels_last(x):
    """(N, C[, H, W]) -> (C, M)."""
    return x.transpose(0, 1).reshape(x.shape[1], -1)


def _back(flat, like):
    """(C, M) -> the layout of `like`."""
    if like.dim() == 2:
        return flat.t()
    N, C, H, W = like.shape
    return flat.reshape(C, N, H, W).transpose(0, 1)


def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1,
                      eps=1e-5):
    xf = _channels_last(x)  # (C, M)
    M = xf.shape[1]
    if train:
        mu = xf.sum(dim=1) / M
        centered = xf - mu[:, None]
        var = (centered * centered).sum(dim=1) / M
        new_mean = running_mean + momentum * (mu - running_mean)
        new_var = running_var + momentum * (var * M / (M - 1) - running_var)
    else:
        mu, var = running_mean, running_var
        centered = xf - mu[:, None]
        new_mean, new_var = running_mean * 1, running_var * 1
    std = torch.sqrt(var + eps)
    xhat = centered / std[:, None]
    out = _back(gamma[:, None] * xhat + beta[:, None], x)
    return out, {"xhat": xhat, "std": std, "gamma": gamma, "train": train}, new_mean, new_var


def batchnorm_backward(dout, cache):
    g = _channels_last(dout)  # (C, M)
    xhat, std, gamma = cache["xhat"], cache["std"], cache["gamma"]
    M = g.shape[1]
    dbeta = g.sum(dim=1)
    dgamma = (g * xhat).sum(dim=1)
    if not cache["train"]:
        return _back(g * (gamma / std)[:, None], dout), dgamma, dbeta
    # dx = gamma / (M * std) * (M * dout - sum(dout) - xhat * sum(dout * xhat))
    dx = (gamma / (M * std))[:, None] * (M * g - dbeta[:, None] - xhat * dgamma[:, None])
    return _back(dx, dout), dgamma, dbeta


def layernorm_forward(x, gamma, beta, eps=1e-5):
    D = x.shape[-1]
    mu = x.sum(dim=-1, keepdim=True) / D
    centered = x - mu
    std = torch.sqrt((centered * centered).sum(dim=-1, keepdim=True) / D + eps)
    xhat = centered / std
    return xhat * gamma + beta, (xhat, std, gamma)


def layernorm_backward(dout, cache):
    xhat, std, gamma = cache
    D = dout.shape[-1]
    g = dout * gamma
    dx = (D * g - g.sum(dim=-1, keepdim=True)
          - xhat * (g * xhat).sum(dim=-1, keepdim=True)) / (D * std)
    flat = dout.reshape(-1, D)
    return dx, (flat * xhat.reshape(-1, D)).sum(dim=0), flat.sum(dim=0)
