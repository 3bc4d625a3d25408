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
    # Hint: reduce over every dimension but the channels (dim 1), then reshape the (C,)
    # Hint: statistics so they broadcast against x; torch.var(..., correction=0) is biased.
    raise NotImplementedError("batchnorm_forward")


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
    # Hint: derive dx on paper first: xhat depends on x directly and through mu and var.
    raise NotImplementedError("batchnorm_backward")


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
    # Hint: reduce over the last dimension with keepdim=True so the statistics broadcast.
    raise NotImplementedError("layernorm_forward")


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
    # Hint: the parameters' gradients sum over every leading dimension (there may be none).
    raise NotImplementedError("layernorm_backward")
