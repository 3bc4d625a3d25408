"""Public tests for the pooling assignment (run them with `dlgrade check pooling`).

Inputs and expected outputs come from fixtures recorded from the reference solution; the
performance test draws fresh inputs and times your forward passes against PyTorch's own
pooling (F.max_pool2d, F.avg_pool2d) on your machine.
"""

import torch
import torch.nn.functional as F

from grader.testing import dtype_name

DTYPES = (torch.float32, torch.float64)

# (N, C, H, W, kernel_size, stride); stride None: the argument is left out (= kernel_size).
CONFIGS = [
    (2, 3, 8, 6, 2, None),
    (3, 2, 8, 9, 3, 2),          # overlapping windows, a leftover row
    (1, 4, 6, 8, (2, 3), (2, 1)),
]


def _label(dtype, cfg):
    N, C, H, W, k, s = cfg
    stride = "omitted" if s is None else repr(s)
    return f"{dtype_name(dtype)} x=({N}, {C}, {H}, {W}) kernel_size={k!r} stride={stride}"


def _pool(t, kind, dtype, cfg):
    N, C, H, W, k, s = cfg
    x = t.randn(N, C, H, W, dtype=dtype)
    fw = (t.run(f"{kind}_forward", x, k) if s is None
          else t.run(f"{kind}_forward", x, k, s))
    dout = t.randn(*fw["out"].expected.shape, dtype=dtype)
    t.run(f"{kind}_backward", dout, fw.cache)


# The handout's edge case: tied maxima (integer values, overlapping windows). The gradient
# goes to the first maximum in row-major order, never split, never to the last one.
TIE_CONFIG = (2, 2, 7, 9, (3, 2), (1, 1))


def maxpool_public(t):
    for dtype in DTYPES:
        for cfg in CONFIGS:
            with t.case(_label(dtype, cfg)):
                _pool(t, "maxpool2d", dtype, cfg)
        N, C, H, W, k, s = TIE_CONFIG
        with t.case(f"ties (integer values in [0, 3)): {_label(dtype, TIE_CONFIG)}"):
            x = t.randint(0, 3, N, C, H, W).to(dtype)
            fw = t.run("maxpool2d_forward", x, k, s)
            dout = t.randn(*fw["out"].expected.shape, dtype=dtype)
            t.run("maxpool2d_backward", dout, fw.cache)


def avgpool_public(t):
    for dtype in DTYPES:
        for cfg in CONFIGS:
            with t.case(_label(dtype, cfg)):
                _pool(t, "avgpool2d", dtype, cfg)


# ---------------------------------------------------------------- performance
# maxpool2d_forward and avgpool2d_forward on a batch of feature maps (2x2 windows, stride
# 2), timed against F.max_pool2d (with its indices: your cache holds the argmax too) and
# F.avg_pool2d on the same inputs (one thread; float64 on CPU). A vectorized solution on a
# window view takes a few times the native op's time (a hand-written average reduces a
# strided view, which the native kernel does much faster); a Python loop over images,
# channels or windows takes far longer and dispatches more aten ops when N, C, H or W
# doubles (the op count starts from N=C=2, H=W=8). The limits are in assignment.yaml
# (perf_maxpool_native, perf_avgpool_native).


def native_maxpool2d(x, kernel_size, stride=None):
    """The baseline: PyTorch's max pooling with its indices; the cache is never compared."""
    out, _ = F.max_pool2d(x, kernel_size, stride, return_indices=True)
    return out, None


def native_avgpool2d(x, kernel_size, stride=None):
    """The baseline: PyTorch's average pooling; the cache is never compared."""
    return F.avg_pool2d(x, kernel_size, stride), None


def _perf(t, fn, native, name):
    def inputs(N, C, H, W, dtype):
        return (t.randn(N, C, H, W, dtype=dtype), 2), {"stride": 2}

    t.perf(fn, inputs, sizes={"N": 128, "C": 4, "H": 16, "W": 16},
           grow={"N": "the batch", "C": "the channels", "H": "the height", "W": "the width"},
           count_sizes={"N": 2, "C": 2, "H": 8, "W": 8}, baseline=native, baseline_name=name)


def perf_maxpool_native(t):
    _perf(t, "maxpool2d_forward", native_maxpool2d, "F.max_pool2d")


def perf_avgpool_native(t):
    _perf(t, "avgpool2d_forward", native_avgpool2d, "F.avg_pool2d")
