"""2-D convolution (cross-correlation, as in PyTorch), forward and backward, by hand.

Shapes:
    N   batch size
    C   input channels
    H,W input height and width
    F   number of filters (output channels)
    KH,KW  kernel height and width
    sh,sw  stride (vertical, horizontal);  ph,pw  zero padding (top/bottom, left/right)
    Ho = (H + 2*ph - KH) // sh + 1,  Wo = (W + 2*pw - KW) // sw + 1  output height and width

`stride` and `padding` are an int (the same for both directions) or a pair (h, w), given
as a tuple or a list.

Forbidden: the library's convolutions (torch.nn.functional.conv*, torch.conv2d,
torch.nn.Conv2d, ...) and autograd. Allowed: plain tensor algebra, `Tensor.unfold`,
`as_strided`, `torch.nn.functional.unfold` / `fold` (im2col / col2im), `scatter_add_`.
"""

import torch  # noqa: F401 (the stub keeps this import for you)


def conv2d_forward(x, w, b, stride=1, padding=0):
    """Convolution layer forward pass: out = W * X + b, PyTorch's conv2d.

    Every filter f slides over the zero-padded input; at each output position it
    multiplies the window under it with its weights and sums over the window and the
    input channels:

        out[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] * xp[n, c, i*sh + u, j*sw + v]

    where xp is x with ph rows of zeros above and below and pw columns of zeros left and
    right. Gathering every window into one row of a matrix (im2col) turns the whole layer
    into one matrix product: cols (N*Ho*Wo, C*KH*KW) @ w_mat^T (C*KH*KW, F).

    Args:
        x: (N, C, H, W) input.
        w: (F, C, KH, KW) filters.
        b: (F,) biases, or None (no bias).
        stride: int or (sh, sw) pair.
        padding: int or (ph, pw) pair.
    Returns:
        out: (N, F, Ho, Wo) with Ho = (H + 2*ph - KH) // sh + 1,
             Wo = (W + 2*pw - KW) // sw + 1.
        cache: whatever conv2d_backward needs.
    """
    # Hint: turn stride and padding into (h, w) pairs first: an int means both directions.
    # Hint: pad with zeros, take every KH x KW window (Tensor.unfold on dims 2 and 3 gives
    # Hint: a strided view), flatten each window into a row (im2col), then one matrix product.
    raise NotImplementedError("conv2d_forward")


def conv2d_backward(dout, cache):
    """Convolution layer backward pass.

    With the im2col matrices of the forward pass (cols = im2col(xp), out_mat = cols @
    w_mat^T + b, dout_mat the (N*Ho*Wo, F) matrix of dout):

        dw_mat = dout_mat^T @ cols          every window, weighted by its output's gradient
        db[f]  = sum_{n, i, j} dout[n, f, i, j]
        dcols  = dout_mat @ w_mat           the gradient of every window element
        dxp    = col2im(dcols)              each window element adds its gradient back to
                                            the input position it was read from (windows
                                            overlap when stride < kernel: contributions add)
        dx     = dxp without its padding border

    Args:
        dout: (N, F, Ho, Wo) upstream gradient.
        cache: from conv2d_forward.
    Returns:
        dx: (N, C, H, W).  dw: (F, C, KH, KW).  db: (F,), or None when b was None.
    """
    # Hint: reuse the forward's im2col matrix: dw and dcols are matrix products with dout.
    # Hint: col2im (torch.nn.functional.fold, or index_add_/scatter_add_) sums each window
    # Hint: element's gradient back into the padded input; then crop the padding away.
    raise NotImplementedError("conv2d_backward")
