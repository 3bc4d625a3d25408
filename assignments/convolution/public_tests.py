"""Public tests for the convolution assignment (run them with `dlgrade check convolution`).

Inputs and expected outputs come from fixtures recorded from the reference solution.
"""

import torch

from grader.testing import dtype_name

DTYPES = (torch.float32, torch.float64)

# (N, C, H, W, F, KH, KW, stride, padding): distinct sizes for every dimension.
FORWARD_CONFIGS = [
    (2, 3, 7, 6, 4, 3, 3, 1, 0),
    (3, 2, 8, 5, 5, 3, 2, 1, 1),
    (2, 1, 10, 7, 2, 3, 3, 2, 1),      # stride 2 does not divide 10 + 2 - 3
    (1, 4, 6, 9, 3, 2, 4, (2, 1), (1, 2)),
]


def _label(dtype, cfg):
    N, C, H, W, F, KH, KW, stride, padding = cfg
    return (f"{dtype_name(dtype)} x=({N}, {C}, {H}, {W}) w=({F}, {C}, {KH}, {KW}) "
            f"stride={stride} padding={padding}")


def _draw(t, dtype, cfg):
    N, C, H, W, F, KH, KW, _, _ = cfg
    return (t.randn(N, C, H, W, dtype=dtype), t.randn(F, C, KH, KW, dtype=dtype),
            t.randn(F, dtype=dtype))


def conv_forward(t):
    for dtype in DTYPES:
        for cfg in FORWARD_CONFIGS:
            with t.case(_label(dtype, cfg)):
                x, w, b = _draw(t, dtype, cfg)
                t.run("conv2d_forward", x, w, b, cfg[7], cfg[8])


def conv_backward(t):
    for dtype in DTYPES:
        for cfg in FORWARD_CONFIGS:
            with t.case(_label(dtype, cfg)):
                x, w, b = _draw(t, dtype, cfg)
                fw = t.run("conv2d_forward", x, w, b, cfg[7], cfg[8])
                dout = t.randn(*fw["out"].expected.shape, dtype=dtype)
                t.run("conv2d_backward", dout, fw.cache)
