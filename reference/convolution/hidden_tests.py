"""Hidden tests for the convolution assignment (never shipped to students).

Every configuration has distinct sizes per dimension, so a transposed axis, H used for W
or (ph, pw) swapped shows. Labels name sizes and hyper-parameters, never values.
"""

import torch

from grader.testing import dtype_name

DTYPES = (torch.float32, torch.float64)

# (N, C, H, W, F, KH, KW, stride, padding, how): `how` is the calling convention:
# "pos" all positional, "kw" stride/padding by keyword, "allkw" every argument by keyword.
CONFIGS = [
    (2, 3, 9, 7, 4, 3, 2, (2, 1), (1, 0), "pos"),        # tuples, different h and w
    (3, 2, 8, 11, 5, 2, 3, [1, 2], [2, 1], "kw"),         # lists
    (1, 4, 7, 10, 2, 3, 5, (3, 2), 2, "allkw"),           # N = 1, int padding, C != F
    (2, 5, 10, 6, 3, 4, 3, 2, (0, 1), "kw"),              # int stride, pair padding
    (4, 1, 6, 8, 6, 5, 4, (1, 3), [1, 2], "pos"),         # C = 1, wide stride
    (2, 3, 11, 9, 2, 3, 3, 3, 1, "allkw"),                # stride not dividing the size
    (2, 3, 7, 6, 4, 3, 2, 1, 0, "omit"),                  # the defaults, by omission
    (3, 2, 8, 9, 3, 3, 2, (2, 1), 0, "stride"),           # padding's default, by omission
]

# Edge cases: (N, C, H, W, F, KH, KW, stride, padding, how, what).
EDGE_CONFIGS = [
    (2, 3, 6, 5, 4, 1, 1, 1, 0, "pos", "1x1 kernel"),
    (3, 2, 7, 4, 5, 1, 1, (2, 3), (1, 2), "kw", "1x1 kernel, stride and padding"),
    (2, 3, 5, 4, 2, 5, 4, 1, 0, "pos", "kernel as large as the input"),
    (2, 2, 4, 3, 3, 6, 7, (1, 2), (1, 2), "kw", "kernel as large as the padded input"),
    (1, 3, 9, 10, 2, 2, 3, (4, 5), 0, "allkw", "stride larger than the kernel"),
    (2, 2, 3, 4, 3, 2, 3, 1, (3, 2), "kw", "padding larger than the kernel"),
]


def _label(dtype, cfg):
    N, C, H, W, F, KH, KW, stride, padding, how = cfg[:10]
    return (f"{dtype_name(dtype)} x=({N}, {C}, {H}, {W}) w=({F}, {C}, {KH}, {KW}) "
            f"stride={stride!r} padding={padding!r} ({_HOW[how]})")


_HOW = {"pos": "positional arguments", "kw": "stride and padding by keyword",
        "allkw": "all arguments by keyword",
        # A documented default is part of the API: only omitting it tests it.
        "omit": "stride and padding omitted", "stride": "padding omitted"}


def _forward(t, dtype, cfg, bias=True):
    N, C, H, W, F, KH, KW, stride, padding, how = cfg[:10]
    x = t.randn(N, C, H, W, dtype=dtype)
    w = t.randn(F, C, KH, KW, dtype=dtype)
    b = t.randn(F, dtype=dtype) if bias else None
    if how == "pos":
        return t.run("conv2d_forward", x, w, b, stride, padding)
    if how == "kw":
        return t.run("conv2d_forward", x, w, b, stride=stride, padding=padding)
    if how == "omit":
        return t.run("conv2d_forward", x, w, b)
    if how == "stride":
        return t.run("conv2d_forward", x, w, b, stride)
    return t.run("conv2d_forward", x=x, w=w, b=b, stride=stride, padding=padding)


def _backward(t, dtype, fw, by_keyword=False):
    dout = t.randn(*fw["out"].expected.shape, dtype=dtype)
    if by_keyword:
        return t.run("conv2d_backward", dout=dout, cache=fw.cache)
    return t.run("conv2d_backward", dout, fw.cache)


def conv_forward_hidden(t):
    for dtype in DTYPES:
        for cfg in CONFIGS:
            with t.case(_label(dtype, cfg)):
                _forward(t, dtype, cfg)


def conv_backward_hidden(t):
    for dtype in DTYPES:
        for i, cfg in enumerate(CONFIGS):
            with t.case(_label(dtype, cfg)):
                fw = _forward(t, dtype, cfg)
                _backward(t, dtype, fw, by_keyword=i % 2 == 1)


def conv_edge_cases(t):
    for dtype in DTYPES:
        for cfg in EDGE_CONFIGS:
            with t.case(f"{cfg[10]}: {_label(dtype, cfg)}"):
                fw = _forward(t, dtype, cfg)
                _backward(t, dtype, fw)


def conv_no_bias(t):
    for dtype in DTYPES:
        for cfg in (CONFIGS[0], CONFIGS[2], EDGE_CONFIGS[1]):
            with t.case(f"b=None: {_label(dtype, cfg)}"):
                fw = _forward(t, dtype, cfg, bias=False)
                _backward(t, dtype, fw)  # db must be None


def conv_backward_twice(t):
    for dtype in DTYPES:
        for cfg in (CONFIGS[1], CONFIGS[4]):
            with t.case(f"backward twice on one cache: {_label(dtype, cfg)}"):
                fw = _forward(t, dtype, cfg)
                _backward(t, dtype, fw)
                _backward(t, dtype, fw)


# ---------------------------------------------------------------- performance
# conv2d_forward on a batch of small images (3x3 filters, stride 1, padding 1), timed
# against the reference on the same inputs. The sizes are the defaults; the spec's options
# override them per device class. The op count starts from N=2, H=W=8 (the other sizes
# as timed) and doubles each of N, H and W in turn: a loop over the batch or over output
# positions dispatches ops per iteration. Limits and figures: docs/benchmarks/.
PERF_SIZES = {"N": 64, "C": 4, "H": 16, "W": 16, "F": 8}
PERF_COUNT_SIZES = {"N": 2, "H": 8, "W": 8}
PERF_GROW = {"N": "the batch", "H": "the height", "W": "the width"}


def _perf_inputs(t):
    def inputs(N, C, H, W, F, dtype):
        x = t.randn(N, C, H, W, dtype=dtype)
        w = t.randn(F, C, 3, 3, dtype=dtype, scale=(9 * C) ** -0.5)
        return (x, w, t.randn(F, dtype=dtype)), {"stride": 1, "padding": 1}

    return inputs


def perf_conv(t):
    t.perf("conv2d_forward", _perf_inputs(t), sizes=PERF_SIZES, grow=PERF_GROW,
           count_sizes=PERF_COUNT_SIZES)
