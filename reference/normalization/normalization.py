"""Batch normalization and layer normalization: feature scaling at every layer.

Shapes: N batch, C channels (features), H/W spatial size (optional), D the normalized
size; M = the number of values each statistic is taken over (N for a (N, C) input, N*H*W
for a (N, C, H, W) one, D for layer normalization).

Both layers standardize their input, then scale and shift it with learned parameters:

    xhat = (x - mu) / sqrt(var + eps),      out = gamma * xhat + beta,

where mu and var are the mean and the biased variance (divide by M). Batch normalization
takes them per channel over the batch (and the spatial positions); layer normalization per
row over its last dimension. Batch normalization in evaluation uses running statistics
kept during training: running = (1 - momentum) * running + momentum * batch statistic,
with the UNBIASED variance (divide by M - 1), as PyTorch keeps them.
"""

import torch  # noqa: F401 (the stub does not use it yet; your solution will)


def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1,
                      eps=1e-5):
    """Batch normalization, forward pass.

    Training (statistics of this batch, per channel c, over the M values of that channel):

        mu_c = (1/M) sum x,   var_c = (1/M) sum (x - mu_c)^2,
        xhat = (x - mu_c) / sqrt(var_c + eps),   out = gamma_c * xhat + beta_c,
        new_running_mean = (1 - momentum) * running_mean + momentum * mu
        new_running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)

    Evaluation (train=False): mu = running_mean, var = running_var; the running statistics
    are returned unchanged (as new tensors).

    Args:
        x: (N, C) or (N, C, H, W) inputs.
        gamma, beta: (C,) scale and shift.
        running_mean, running_var: (C,) running statistics (not modified).
        train: True for training (batch statistics), False for evaluation (running ones).
        momentum: weight of the new batch statistic in the running ones.
        eps: added to the variance before the square root.
    Returns:
        out: the shape of x.  cache: whatever batchnorm_backward needs.
        new_running_mean, new_running_var: (C,) new tensors.
    """
    # BEGIN SOLUTION
    # HINT: reduce over every dimension but the channels (dim 1), then reshape the (C,)
    # HINT: statistics so they broadcast against x; torch.var(..., correction=0) is biased.
    dims = (0,) if x.dim() == 2 else (0, 2, 3)
    shape = (1, -1) if x.dim() == 2 else (1, -1, 1, 1)  # broadcasts a (C,) against x
    if train:
        M = x.numel() // x.shape[1]
        mu = x.mean(dim=dims)  # (C,)
        var = x.var(dim=dims, correction=0)  # (C,)
        new_mean = (1 - momentum) * running_mean + momentum * mu  # (C,)
        new_var = (1 - momentum) * running_var + momentum * var * (M / (M - 1))  # (C,)
    else:
        mu, var = running_mean, running_var
        new_mean, new_var = running_mean.clone(), running_var.clone()
    inv_std = torch.rsqrt(var + eps)  # (C,)
    xhat = (x - mu.reshape(shape)) * inv_std.reshape(shape)  # like x
    out = gamma.reshape(shape) * xhat + beta.reshape(shape)  # like x
    return out, (xhat, gamma, inv_std, train), new_mean, new_var
    # END SOLUTION


def batchnorm_backward(dout, cache):
    """Batch normalization, backward pass. With dxhat = gamma * dout, per channel over its
    M values (sums over N, and H and W):

        dbeta  = sum dout,      dgamma = sum dout * xhat,
        training:    dx = (1 / sqrt(var + eps)) * (dxhat - mean(dxhat)
                                                   - xhat * mean(dxhat * xhat))
        evaluation:  dx = dxhat / sqrt(var + eps)     (the statistics are constants)

    The two mean terms are the gradient through mu and through var: every input of a
    channel moves its batch's statistics.

    Args:
        dout: upstream gradient, the shape of x.
        cache: from batchnorm_forward (may be used more than once: do not modify it).
    Returns:
        dx: the shape of x.  dgamma, dbeta: (C,).
    """
    # BEGIN SOLUTION
    # HINT: derive dx on paper first: xhat depends on x directly and through mu and var.
    xhat, gamma, inv_std, train = cache
    dims = (0,) if dout.dim() == 2 else (0, 2, 3)
    shape = (1, -1) if dout.dim() == 2 else (1, -1, 1, 1)
    dbeta = dout.sum(dim=dims)  # (C,)
    dgamma = (dout * xhat).sum(dim=dims)  # (C,)
    dxhat = dout * gamma.reshape(shape)  # like x
    if not train:
        return dxhat * inv_std.reshape(shape), dgamma, dbeta
    mean_dxhat = dxhat.mean(dim=dims, keepdim=True)  # (1, C[, 1, 1])
    mean_dxhat_xhat = (dxhat * xhat).mean(dim=dims, keepdim=True)  # (1, C[, 1, 1])
    dx = inv_std.reshape(shape) * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)  # like x
    return dx, dgamma, dbeta
    # END SOLUTION


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Layer normalization, forward pass: each row (the last dimension, D values) is
    standardized on its own, the same in training and evaluation:

        mu = (1/D) sum_d x_d,   var = (1/D) sum_d (x_d - mu)^2,
        xhat = (x - mu) / sqrt(var + eps),   out = gamma * xhat + beta.

    Args:
        x: (..., D) inputs (any number of leading dimensions, including none).
        gamma, beta: (D,) scale and shift.
        eps: added to the variance before the square root.
    Returns:
        out: (..., D).  cache: whatever layernorm_backward needs.
    """
    # BEGIN SOLUTION
    # HINT: reduce over the last dimension with keepdim=True so the statistics broadcast.
    mu = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = x.var(dim=-1, correction=0, keepdim=True)  # (..., 1)
    inv_std = torch.rsqrt(var + eps)  # (..., 1)
    xhat = (x - mu) * inv_std  # (..., D)
    out = gamma * xhat + beta  # (..., D)
    return out, (xhat, gamma, inv_std)
    # END SOLUTION


def layernorm_backward(dout, cache):
    """Layer normalization, backward pass. With dxhat = gamma * dout, per row (means over
    its D values) and summing the parameters' gradients over every row:

        dx = (1 / sqrt(var + eps)) * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),
        dgamma = sum over rows of dout * xhat,      dbeta = sum over rows of dout.

    Args:
        dout: (..., D) upstream gradient.
        cache: from layernorm_forward (may be used more than once: do not modify it).
    Returns:
        dx: (..., D).  dgamma, dbeta: (D,).
    """
    # BEGIN SOLUTION
    # HINT: the parameters' gradients sum over every leading dimension (there may be none).
    xhat, gamma, inv_std = cache
    D = dout.shape[-1]
    dbeta = dout.reshape(-1, D).sum(dim=0)  # (D,)
    dgamma = (dout * xhat).reshape(-1, D).sum(dim=0)  # (D,)
    dxhat = dout * gamma  # (..., D)
    mean_dxhat = dxhat.mean(dim=-1, keepdim=True)  # (..., 1)
    mean_dxhat_xhat = (dxhat * xhat).mean(dim=-1, keepdim=True)  # (..., 1)
    dx = inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)  # (..., D)
    return dx, dgamma, dbeta
    # END SOLUTION
