"""Inverted dropout: a layer that randomly silences units during training.

Shapes: x may have any shape; every output and gradient has the shape of x.

p is the probability of DROPPING a unit (PyTorch's convention). In training each unit is
kept independently with probability 1 - p, and kept units are divided by 1 - p so that the
expected output equals the input; at evaluation time the layer is the identity. All
randomness comes from the `generator` argument (PyTorch's default generator when it is
None), so that the same generator state always gives the same mask.
"""

import torch  # noqa: F401 (the stub does not use it yet; your solution will)


def dropout_forward(x, p, train=True, generator=None):
    """Inverted dropout, forward pass.

    In training, with a mask m of independent Bernoulli(1 - p) draws (1 = keep):

        out = m * x / (1 - p)          so that  E[out] = x,

    and for p == 1 every unit is dropped: out = 0 (never 0 / 0 = NaN). In evaluation
    (train=False) out = x: the full network stands in for the average of the thinned
    networks that training sampled.

    Args:
        x: input, any shape, float32 or float64.
        p: probability of dropping each unit, 0 <= p <= 1.
        train: True for training (sample a mask), False for evaluation (identity).
        generator: the torch.Generator to draw the mask from (on x's device), or None for
            PyTorch's default generator.
    Returns:
        out: the shape of x.
        cache: whatever dropout_backward needs.
    """
    # BEGIN SOLUTION
    # HINT: uniforms from torch.rand(x.shape, generator=generator, dtype=..., device=...);
    # HINT: a unit is kept where its draw is >= p, which happens with probability 1 - p.
    if not train:
        return x, None
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)  # like x
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    mask = (u >= p).to(x.dtype) * scale  # like x: 0 or 1 / (1 - p)
    return x * mask, mask
    # END SOLUTION


def dropout_backward(dout, cache):
    """Inverted dropout, backward pass: the forward pass is linear in x, so

        dx = m * dout / (1 - p)        (training, with the forward pass's mask m)
        dx = dout                      (evaluation)

    Args:
        dout: upstream gradient dL/dout, the shape of x.
        cache: from dropout_forward (may be used more than once: do not modify it).
    Returns:
        dx: the shape of x.
    """
    # BEGIN SOLUTION
    # HINT: reuse the forward pass's mask; never draw a new one here.
    mask = cache
    if mask is None:
        return dout.clone()
    return dout * mask
    # END SOLUTION
