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

# BEGIN SOLUTION


def _pair(v):
    """An int or an (h, w) tuple/list -> a tuple (h, w) of ints."""
    if isinstance(v, (tuple, list)):
        h, w = v
        return int(h), int(w)
    return int(v), int(v)


def _windows(x, kernel_size, stride):
    """Every KH x KW window of x as a strided view (no copy), and the window geometry."""
    KH, KW = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    windows = x.unfold(2, KH, sh).unfold(3, KW, sw)  # (N, C, Ho, Wo, KH, KW)
    return windows, (KH, KW), (sh, sw)
# END SOLUTION


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
    # BEGIN SOLUTION
    # HINT: Tensor.unfold on dims 2 and 3 gives every window as a strided view; flatten
    # HINT: each window and take its max and argmax (the first maximum, row-major), then
    # HINT: remember where in x each window's maximum sits.
    windows, (KH, KW), (sh, sw) = _windows(x, kernel_size, stride)
    N, C, Ho, Wo = windows.shape[:4]
    W = x.shape[3]
    flat = windows.reshape(N, C, Ho, Wo, KH * KW)  # (N, C, Ho, Wo, KH*KW), row-major
    out, arg = flat.max(dim=-1)  # (N, C, Ho, Wo) each; arg: first maximum on ties
    top = (torch.arange(Ho, device=x.device) * sh).view(Ho, 1)  # (Ho, 1) window's first row
    left = torch.arange(Wo, device=x.device) * sw  # (Wo,) window's first column
    argmax_pos = (top + arg // KW) * W + (left + arg % KW)  # (N, C, Ho, Wo) index into H*W
    cache = (x.shape, argmax_pos)
    return out, cache
    # END SOLUTION


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
    # BEGIN SOLUTION
    # HINT: scatter_add_ (or index_add_) adds every dout value at its window's argmax
    # HINT: position; a plain assignment would lose contributions of overlapping windows.
    (N, C, H, W), argmax_pos = cache
    dx = dout.new_zeros(N, C, H * W)  # (N, C, H*W)
    dx.scatter_add_(2, argmax_pos.reshape(N, C, -1), dout.reshape(N, C, -1))
    return dx.reshape(N, C, H, W)  # (N, C, H, W)
    # END SOLUTION


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
    # BEGIN SOLUTION
    # HINT: the same windows as max pooling; sum each and divide by the window size.
    windows, (KH, KW), (sh, sw) = _windows(x, kernel_size, stride)
    out = windows.sum(dim=(-2, -1)) / (KH * KW)  # (N, C, Ho, Wo)
    cache = (x.shape, (KH, KW), (sh, sw))
    return out, cache
    # END SOLUTION


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
    # BEGIN SOLUTION
    # HINT: give every element of a window dout / (KH*KW), then add the windows back into
    # HINT: an H x W image (col2im: torch.nn.functional.fold, or index_add_).
    (N, C, H, W), (KH, KW), (sh, sw) = cache
    Ho, Wo = dout.shape[2], dout.shape[3]
    share = (dout / (KH * KW)).reshape(N * C, 1, Ho * Wo)  # (N*C, 1, Ho*Wo)
    dcols = share.expand(N * C, KH * KW, Ho * Wo)  # (N*C, KH*KW, Ho*Wo) every window element
    dx = torch.nn.functional.fold(dcols, (H, W), (KH, KW), stride=(sh, sw))  # (N*C, 1, H, W)
    return dx.reshape(N, C, H, W)  # (N, C, H, W)
    # END SOLUTION
