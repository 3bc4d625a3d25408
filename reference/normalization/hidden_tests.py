"""Hidden tests for normalization. Inputs come from the per-submission seed; expected values
from the live reference in float64."""

import torch

from grader.testing import dtype_name

DTYPES = (torch.float32, torch.float64)
# Distinct sizes per dimension; training needs M = N (*H*W) >= 2 values per channel (the
# unbiased running variance divides by M - 1), so N = 1 appears only in 4-D inputs.
# N = 2 in training: xhat = +-1 whatever x is (up to eps), so the exact dx is ~eps / var
# of its terms, which cancel; dx is compared at its natural size (the spec's scales), not
# its own, which is what lets both dtypes have it.
BN_2D = [(8, 5), (3, 4), (13, 7), (32, 11), (2, 3)]
BN_4D = [(2, 3, 4, 5), (1, 4, 3, 6), (5, 2, 7, 3)]
# Layer norm: N = 1, a 1-D input (no batch dimension), 3-D (N, T, D) as in a transformer.
LN_SHAPES = [(6, 9), (1, 7), (11, 4), (3, 5, 8), (2, 1, 6), (10,)]


def _label(dtype, shape, *extra) -> str:
    return " ".join([dtype_name(dtype), f"shape={shape}", *extra])


def bn_params(t, C, dtype):
    """gamma, beta, running_mean, running_var for C channels (running_var > 0)."""
    return (t.randn(C, dtype=dtype, scale=0.5) + 1.0, t.randn(C, dtype=dtype),
            t.randn(C, dtype=dtype), t.rand(C, dtype=dtype, low=0.5, high=2.0))


def _bn_input(t, shape, dtype):
    """Per-channel offsets and scales, so that statistics taken over the wrong axes differ
    from the right ones."""
    C = shape[1]
    view = (1, C) + (1,) * (len(shape) - 2)
    offset = t.randn(C, dtype=dtype, scale=2.0).reshape(view)
    scale = t.rand(C, dtype=dtype, low=0.5, high=3.0).reshape(view)
    return t.randn(*shape, dtype=dtype) * scale + offset


def _bn_case(t, shape, dtype, *, train=True, momentum=None, eps=None, x=None):
    x = _bn_input(t, shape, dtype) if x is None else x
    params = bn_params(t, shape[1], dtype)
    kwargs = {}
    if momentum is not None:
        kwargs["momentum"] = momentum
    if eps is not None:
        kwargs["eps"] = eps
    fw = t.run("batchnorm_forward", x, *params, train=train, **kwargs)
    dout = t.randn(*shape, dtype=dtype)  # a random upstream gradient
    t.run("batchnorm_backward", dout, fw.cache)
    # The API lets the grader call a backward twice with one cache.
    t.run("batchnorm_backward", dout, fw.cache)
    return fw


def batchnorm_train_2d(t):
    for dtype in DTYPES:
        for shape in BN_2D:
            with t.case(_label(dtype, shape)):
                _bn_case(t, shape, dtype)
    with t.case("float64 every argument by position, momentum 0.25"):
        x = _bn_input(t, (6, 4), torch.float64)
        fw = t.run("batchnorm_forward", x, *bn_params(t, 4, torch.float64), True, 0.25, 1e-5)
        t.run("batchnorm_backward", t.randn(6, 4), fw.cache)


def batchnorm_train_4d(t):
    for dtype in DTYPES:
        for shape in BN_4D:
            with t.case(_label(dtype, shape)):
                _bn_case(t, shape, dtype)


def batchnorm_eval(t):
    for dtype in DTYPES:
        for shape in [(7, 3), (2, 5, 3, 4), (1, 2, 3, 3)]:
            with t.case(_label(dtype, shape, "evaluation")):
                _bn_case(t, shape, dtype, train=False)
    with t.case("float64 (4, 6) evaluation, train=False by position"):
        x = _bn_input(t, (4, 6), torch.float64)
        fw = t.run("batchnorm_forward", x, *bn_params(t, 6, torch.float64), False)
        t.run("batchnorm_backward", t.randn(4, 6), fw.cache)


def batchnorm_running_stats(t):
    # Successive training steps, each feeding the running statistics it returned into the
    # next (the reference's into the reference, the student's into the student), with the
    # momentum by value; both sides' new statistics are compared at every step.
    for dtype, shape, momentum in [(torch.float64, (9, 4), 0.1), (torch.float32, (3, 5, 2, 4), 0.3),
                                   (torch.float64, (2, 3, 3, 2), 0.9),
                                   (torch.float64, (5, 3), 1.0)]:
        with t.case(_label(dtype, shape, f"momentum={momentum}, 3 steps")):
            gamma, beta, mean, var = bn_params(t, shape[1], dtype)
            for _ in range(3):
                fw = t.run("batchnorm_forward", _bn_input(t, shape, dtype), gamma, beta, mean,
                           var, momentum=momentum)
                mean, var = fw["new_running_mean"], fw["new_running_var"]


def batchnorm_eps(t):
    # Tiny variances (std 1e-3, var 1e-6, under the default eps 1e-5): eps decides the
    # output's scale, by omission and by value.
    for dtype in DTYPES:
        for shape, eps in [((10, 3), None), ((4, 2, 3, 5), None), ((6, 4), 1e-3),
                           ((2, 3, 4, 2), 0.5)]:
            what = "eps by omission" if eps is None else f"eps={eps:g}"
            with t.case(_label(dtype, shape, what, "std 1e-3")):
                x = t.randn(*shape, dtype=dtype, scale=1e-3)
                _bn_case(t, shape, dtype, eps=eps, x=x)
    with t.case("float64 eps by position, evaluation"):
        x = _bn_input(t, (5, 3), torch.float64)
        gamma, beta, mean, _ = bn_params(t, 3, torch.float64)
        var = t.rand(3, low=1e-4, high=1e-3)
        fw = t.run("batchnorm_forward", x, gamma, beta, mean, var, False, 0.1, 0.01)
        t.run("batchnorm_backward", t.randn(5, 3), fw.cache)


def _ln_case(t, shape, dtype, *, eps=None, x=None):
    D = shape[-1]
    x = t.randn(*shape, dtype=dtype, scale=2.0) - 0.5 if x is None else x
    gamma = t.randn(D, dtype=dtype, scale=0.5) + 1.0
    beta = t.randn(D, dtype=dtype)
    kwargs = {} if eps is None else {"eps": eps}
    fw = t.run("layernorm_forward", x, gamma, beta, **kwargs)
    dout = t.randn(*shape, dtype=dtype)
    t.run("layernorm_backward", dout, fw.cache)
    t.run("layernorm_backward", dout, fw.cache)


def layernorm(t):
    for dtype in DTYPES:
        for shape in LN_SHAPES:
            with t.case(_label(dtype, shape)):
                _ln_case(t, shape, dtype)
    with t.case("float64 arguments by keyword"):
        x, gamma, beta = t.randn(3, 5), t.randn(5), t.randn(5)
        fw = t.run("layernorm_forward", x=x, gamma=gamma, beta=beta, eps=1e-5)
        t.run("layernorm_backward", dout=t.randn(3, 5), cache=fw.cache)


def layernorm_eps(t):
    for dtype in DTYPES:
        for shape, eps in [((5, 6), None), ((2, 3, 7), None), ((4, 9), 1e-3), ((1, 8), 0.5)]:
            what = "eps by omission" if eps is None else f"eps={eps:g}"
            with t.case(_label(dtype, shape, what, "std 1e-3")):
                _ln_case(t, shape, dtype, eps=eps, x=t.randn(*shape, dtype=dtype, scale=1e-3))
    with t.case("float64 eps by position"):
        fw = t.run("layernorm_forward", t.randn(3, 4, scale=0.01), t.randn(4), t.randn(4),
                   0.01)
        t.run("layernorm_backward", t.randn(3, 4), fw.cache)


def normalization_stable(t):
    # float64: mean 1e3, std 1e-2 (the spec's tolerance for this test explains the
    # bounds); float32: mean 10, std 0.5, within the float32 reasoning.
    for dtype, offset, std in [(torch.float64, 1e3, 1e-2), (torch.float32, 10.0, 0.5)]:
        for shape in [(12, 3), (4, 2, 5, 3)]:
            with t.case(_label(dtype, shape, "batchnorm, large mean, small variance")):
                _bn_case(t, shape, dtype, x=t.randn(*shape, dtype=dtype, scale=std) + offset)
        for shape in [(5, 16), (2, 3, 10)]:
            with t.case(_label(dtype, shape, "layernorm, large mean, small variance")):
                _ln_case(t, shape, dtype, x=t.randn(*shape, dtype=dtype, scale=std) + offset)


# ---------------------------------------------------------------- performance
# Sizes and limits are in assignment.yaml (each test's options); the op count starts from
# the small sizes below and doubles one named dimension at a time.


def perf_batchnorm(t):
    def inputs(N, C, H, W, dtype):
        return (t.randn(N, C, H, W, dtype=dtype), *bn_params(t, C, dtype), True)

    t.perf("batchnorm_forward", inputs, grow={"N": "the batch", "C": "the channels"},
           count_sizes={"N": 8, "C": 4, "H": 4, "W": 4})


def perf_layernorm(t):
    def inputs(N, D, dtype):
        return t.randn(N, D, dtype=dtype), t.randn(D, dtype=dtype), t.randn(D, dtype=dtype)

    t.perf("layernorm_forward", inputs, grow={"N": "the rows"}, count_sizes={"N": 8})
