"""Max and average pooling, forward and backward, by hand.

Shapes:
    N   batch size
    C   channels (pooled independently)
    H,W input height and width
    KH,KW  window (kernel) size;  sh,sw  stride, by default the kernel size
    Ho = (H - KH) // sh + 1,  Wo = (W - KW) // sw + 1  output height and width (no padding)

`kernel_size` and `stride` are an int (the same for both directions) or a pair (h, w),
given as a tuple or a list; `stride=None` (the default) means stride = kernel_size.
Windows overlap when the stride is smaller than the kernel.

Forbidden: the library's pooling (torch.nn.functional.max_pool2d, avg_pool2d, adaptive
pooling, torch.nn.MaxPool2d, ...) and autograd. Allowed: plain tensor algebra,
`Tensor.unfold`, `as_strided`, `torch.nn.functional.unfold` / `fold`, `scatter_add_`.
"""

import torch  # noqa: F401 (the stub keeps this import for you)


def maxpool2d_forward(x, kernel_size, stride=None):
    """Max pooling forward pass: the largest value of every window.

        out[n, c, i, j] = max_{0 <= u < KH, 0 <= v < KW} x[n, c, i*sh + u, j*sw + v]

    Args:
        x: (N, C, H, W) input.
        kernel_size: int or (KH, KW) pair.
        stride: int or (sh, sw) pair; None (default) means stride = kernel_size.
    Returns:
        out: (N, C, Ho, Wo) with Ho = (H - KH) // sh + 1, Wo = (W - KW) // sw + 1.
        cache: whatever maxpool2d_backward needs.
    """
    # Hint: Tensor.unfold on dims 2 and 3 gives every window as a strided view; flatten
    # Hint: each window and take its max and argmax (the first maximum, row-major), then
    # Hint: remember where in x each window's maximum sits.
    raise NotImplementedError("maxpool2d_forward")


def maxpool2d_backward(dout, cache):
    """Max pooling backward pass: each window routes its gradient to its maximum.

        dx[n, c, h, w] = sum over the windows (i, j) whose first maximum (row-major order
                         within the window) is at (h, w) of dout[n, c, i, j]

    Every other position gets 0. Where windows overlap, one input position can be the
    maximum of several windows: their gradients add up.

    Args:
        dout: (N, C, Ho, Wo) upstream gradient.
        cache: from maxpool2d_forward.
    Returns:
        dx: (N, C, H, W).
    """
    # Hint: scatter_add_ (or index_add_) adds every dout value at its window's argmax
    # Hint: position; a plain assignment would lose contributions of overlapping windows.
    raise NotImplementedError("maxpool2d_backward")


def avgpool2d_forward(x, kernel_size, stride=None):
    """Average pooling forward pass: the mean of every window.

        out[n, c, i, j] = 1/(KH*KW) * sum_{0 <= u < KH, 0 <= v < KW} x[n, c, i*sh + u, j*sw + v]

    Args:
        x: (N, C, H, W) input.
        kernel_size: int or (KH, KW) pair.
        stride: int or (sh, sw) pair; None (default) means stride = kernel_size.
    Returns:
        out: (N, C, Ho, Wo).
        cache: whatever avgpool2d_backward needs.
    """
    # Hint: the same windows as max pooling; sum each and divide by the window size.
    raise NotImplementedError("avgpool2d_forward")


def avgpool2d_backward(dout, cache):
    """Average pooling backward pass: each window shares its gradient equally.

        dx[n, c, h, w] = 1/(KH*KW) * sum over the windows (i, j) containing (h, w)
                         of dout[n, c, i, j]

    Positions no window covers (the right/bottom remainder when the stride does not
    divide H - KH or W - KW) get 0.

    Args:
        dout: (N, C, Ho, Wo) upstream gradient.
        cache: from avgpool2d_forward.
    Returns:
        dx: (N, C, H, W).
    """
    # Hint: give every element of a window dout / (KH*KW), then add the windows back into
    # Hint: an H x W image (col2im: torch.nn.functional.fold, or index_add_).
    raise NotImplementedError("avgpool2d_backward")
