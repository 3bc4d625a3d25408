"""Hidden tests for the pooling assignment (never shipped to students).

Distinct sizes per dimension, non-square windows and strides that differ between h and w
(so swapped axes show), overlapping windows (stride < kernel: gradients must add up),
strides that leave rows/columns uncovered, and inputs with exact ties.
"""

import torch

from grader.testing import dtype_name

DTYPES = (torch.float32, torch.float64)

_OMIT = object()  # stride argument left out

# (N, C, H, W, kernel_size, stride, how): how = "pos" (all positional), "kw" (kernel_size
# and stride by keyword), "allkw" (x too).
CONFIGS = [
    (2, 3, 9, 7, (3, 2), (1, 2), "pos"),      # overlapping rows, tuple arguments
    (3, 2, 8, 11, [2, 3], [2, 1], "kw"),      # lists, overlapping columns
    (1, 4, 10, 7, 3, 2, "allkw"),             # N = 1, int, overlap in both directions
    (2, 1, 7, 10, (2, 4), 3, "pos"),          # int stride, leftover rows/columns
    (4, 3, 6, 9, 2, (1, 3), "kw"),            # stride larger than kernel in w
    (2, 2, 5, 4, (5, 4), 1, "pos"),           # window as large as the input
    (2, 3, 8, 5, 1, (2, 1), "kw"),            # 1x1 windows
]

# Default stride: (N, C, H, W, kernel_size, stride) with stride _OMIT or None.
DEFAULT_STRIDE_CONFIGS = [
    (2, 3, 8, 9, 2, _OMIT),
    (3, 2, 9, 8, (3, 2), None),
    (1, 2, 7, 11, [2, 3], _OMIT),
    (2, 1, 10, 7, 3, None),
]

# Ties: (N, C, H, W, kernel_size, stride, values): integer-valued inputs in [0, values), so
# most windows hold several equal maxima; values = 1 is a constant input.
TIE_CONFIGS = [
    (2, 3, 8, 7, 2, None, 2),
    (2, 2, 7, 9, (3, 2), (1, 1), 3),          # overlapping: one position, many windows
    (1, 3, 9, 8, [2, 3], [2, 1], 2),
    (2, 2, 6, 7, 3, 2, 1),                    # constant input: every window ties fully
]


def _stride_text(s):
    if s is _OMIT:
        return "stride omitted"
    return f"stride={s!r}"


def _label(dtype, N, C, H, W, k, s, how=None):
    text = (f"{dtype_name(dtype)} x=({N}, {C}, {H}, {W}) kernel_size={k!r} "
            f"{_stride_text(s)}")
    return text + {None: "", "pos": "", "kw": " (by keyword)",
                   "allkw": " (all by keyword)"}[how]


def _forward(t, fn, x, k, s, how="pos"):
    if s is _OMIT:
        return t.run(fn, x, k) if how == "pos" else t.run(fn, x, kernel_size=k)
    if how == "pos":
        return t.run(fn, x, k, s)
    if how == "kw":
        return t.run(fn, x, kernel_size=k, stride=s)
    return t.run(fn, x=x, kernel_size=k, stride=s)


def _backward(t, fn, fw, dtype, by_keyword=False):
    dout = t.randn(*fw["out"].expected.shape, dtype=dtype)
    if by_keyword:
        return t.run(fn, dout=dout, cache=fw.cache)
    return t.run(fn, dout, fw.cache)


def _forward_test(t, kind):
    for dtype in DTYPES:
        for N, C, H, W, k, s, how in CONFIGS:
            with t.case(_label(dtype, N, C, H, W, k, s, how)):
                x = t.randn(N, C, H, W, dtype=dtype)
                _forward(t, f"{kind}_forward", x, k, s, how)


def _backward_test(t, kind):
    for dtype in DTYPES:
        for i, (N, C, H, W, k, s, how) in enumerate(CONFIGS):
            with t.case(_label(dtype, N, C, H, W, k, s, how)):
                x = t.randn(N, C, H, W, dtype=dtype)
                fw = _forward(t, f"{kind}_forward", x, k, s, how)
                _backward(t, f"{kind}_backward", fw, dtype, by_keyword=i % 2 == 1)
                # A second backward on the same cache must give the same result.
                _backward(t, f"{kind}_backward", fw, dtype)


def _default_stride_test(t, kind):
    for dtype in DTYPES:
        for i, (N, C, H, W, k, s) in enumerate(DEFAULT_STRIDE_CONFIGS):
            how = "pos" if i % 2 == 0 else "kw"
            with t.case(_label(dtype, N, C, H, W, k, s, how)):
                x = t.randn(N, C, H, W, dtype=dtype)
                fw = _forward(t, f"{kind}_forward", x, k, s, how)
                _backward(t, f"{kind}_backward", fw, dtype)


def maxpool_forward_hidden(t):
    _forward_test(t, "maxpool2d")


def maxpool_backward_hidden(t):
    _backward_test(t, "maxpool2d")


def maxpool_default_stride(t):
    _default_stride_test(t, "maxpool2d")


def maxpool_ties(t):
    for dtype in DTYPES:
        for N, C, H, W, k, s, values in TIE_CONFIGS:
            what = "constant input" if values == 1 else f"integer values in [0, {values})"
            with t.case(f"ties ({what}): {_label(dtype, N, C, H, W, k, s)}"):
                x = t.randint(0, values, N, C, H, W).to(dtype)
                fw = t.run("maxpool2d_forward", x, k, s)
                _backward(t, "maxpool2d_backward", fw, dtype)


def avgpool_forward_hidden(t):
    _forward_test(t, "avgpool2d")


def avgpool_backward_hidden(t):
    _backward_test(t, "avgpool2d")


def avgpool_default_stride(t):
    _default_stride_test(t, "avgpool2d")


# ---------------------------------------------------------------- performance
# maxpool2d_forward and avgpool2d_forward on a batch of feature maps (2x2 windows, stride
# 2), each timed against the reference on the same inputs. The sizes are the defaults;
# the spec's options override them per device class. The op count starts from N=C=2,
# H=W=8 (the other sizes as timed) and doubles each of N, C, H and W in turn: channels are
# pooled independently, like images, so a loop over either, or over windows, dispatches
# ops per iteration. Limits and figures: docs/benchmarks/.
PERF_SIZES = {"N": 128, "C": 4, "H": 16, "W": 16}
PERF_COUNT_SIZES = {"N": 2, "C": 2, "H": 8, "W": 8}
PERF_GROW = {"N": "the batch", "C": "the channels", "H": "the height", "W": "the width"}


def _perf(t, fn):
    def inputs(N, C, H, W, dtype):
        return (t.randn(N, C, H, W, dtype=dtype), 2), {"stride": 2}

    t.perf(fn, inputs, sizes=PERF_SIZES, grow=PERF_GROW, count_sizes=PERF_COUNT_SIZES)


def perf_maxpool(t):
    _perf(t, "maxpool2d_forward")


def perf_avgpool(t):
    _perf(t, "avgpool2d_forward")
