"""TODO(dlgrade new): one paragraph on the assignment, and the shape letters used below.

Shapes: N batch, D features.
"""

import torch  # noqa: F401 (the stub does not use it yet; your solution will)


def scale_forward(x, w):
    """A per-feature scale: out = x * w (w broadcast over the batch).

    Args:
        x: (N, D) inputs.  w: (D,) weights.
    Returns:
        out: (N, D).  cache: whatever scale_backward needs.
    """
    # BEGIN SOLUTION
    # HINT: one broadcast product; keep what the backward pass needs.
    out = x * w  # (N, D)
    return out, (x, w)
    # END SOLUTION


def scale_backward(dout, cache):
    """The backward pass of scale_forward:

        dx = dout * w,      dw = sum over the batch of dout * x.

    Args:
        dout: (N, D) upstream gradient.  cache: from scale_forward.
    Returns:
        dx: (N, D).  dw: (D,).
    """
    # BEGIN SOLUTION
    # HINT: w was broadcast over the batch, so its gradient sums over the batch.
    x, w = cache
    dx = dout * w  # (N, D)
    dw = (dout * x).sum(dim=0)  # (D,)
    return dx, dw
    # END SOLUTION
