"""Public tests for the convolution assignment (run them with `dlgrade check convolution`).

Inputs and expected outputs come from fixtures recorded from the reference solution; the
performance test draws fresh inputs and times your conv2d_forward against PyTorch's own
convolution (F.conv2d) on your machine.
"""

import torch
import torch.nn.functional as F

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


# ---------------------------------------------------------------- performance
# conv2d_forward on a batch of small images (3x3 filters, stride 1, padding 1), timed
# against F.conv2d on the same inputs (one thread; float64 on CPU). A vectorized im2col
# takes 1-3x F.conv2d's time; a Python loop over images or output positions takes far
# longer and dispatches more aten ops when N, H or W doubles (the op count starts from
# N=2, H=W=8). The limit is in assignment.yaml (perf_conv_native).


def native_conv2d(x, w, b, stride=1, padding=0):
    """The baseline: PyTorch's convolution; the cache is never compared."""
    return F.conv2d(x, w, b, stride=stride, padding=padding), None


def perf_conv_native(t):
    def inputs(N, C, H, W, F, dtype):
        x = t.randn(N, C, H, W, dtype=dtype)
        w = t.randn(F, C, 3, 3, dtype=dtype, scale=(9 * C) ** -0.5)
        return (x, w, t.randn(F, dtype=dtype)), {"stride": 1, "padding": 1}

    t.perf("conv2d_forward", inputs, sizes={"N": 64, "C": 4, "H": 16, "W": 16, "F": 8},
           grow={"N": "the batch", "H": "the height", "W": "the width"},
           count_sizes={"N": 2, "H": 8, "W": 8}, baseline=native_conv2d,
           baseline_name="F.conv2d")
