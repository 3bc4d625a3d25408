"""Hidden tests for backprop. Inputs come from the per-submission seed; expected values
from the live reference in float64."""

import torch

from grader.testing import dtype_name

DTYPES = (torch.float32, torch.float64)
# Distinct sizes per dimension, N = 1, and a wide layer.
LINEAR_SHAPES = [(4, 7, 3), (1, 5, 6), (9, 2, 11), (16, 64, 10)]


def linear(t):
    for dtype in DTYPES:
        for N, D, M in LINEAR_SHAPES:
            with t.case(f"{dtype_name(dtype)} N={N} D={D} M={M}"):
                x = t.randn(N, D, dtype=dtype)
                w = t.randn(D, M, dtype=dtype)
                b = t.randn(M, dtype=dtype)
                fw = t.run("linear_forward", x, w, b)
                t.run("linear_backward", t.randn(N, M, dtype=dtype), fw.cache)
    with t.case("float64 arguments by keyword"):
        x, w, b = t.randn(3, 4), t.randn(4, 2), t.randn(2)
        fw = t.run("linear_forward", x=x, w=w, b=b)
        t.run("linear_backward", dout=t.randn(3, 2), cache=fw.cache)


def relu(t):
    for dtype in DTYPES:
        for shape in [(6, 5), (1, 9), (2, 3, 4)]:
            with t.case(f"{dtype_name(dtype)} shape={shape}"):
                x = t.randn(*shape, dtype=dtype)
                # Exact zeros: the derivative at 0 is 0.
                x = torch.where(t.bernoulli(0.3, *shape), torch.zeros_like(x), x)
                fw = t.run("relu_forward", x)
                t.run("relu_backward", t.randn(*shape, dtype=dtype), fw.cache)


def sigmoid(t):
    for dtype in DTYPES:
        for shape in [(7, 3), (1, 4), (2, 5, 3)]:
            with t.case(f"{dtype_name(dtype)} shape={shape}"):
                x = t.randn(*shape, dtype=dtype, scale=4.0)
                fw = t.run("sigmoid_forward", x)
                t.run("sigmoid_backward", t.randn(*shape, dtype=dtype), fw.cache)


def sigmoid_stable(t):
    for dtype in DTYPES:
        with t.case(f"{dtype_name(dtype)} |x| up to 1e4"):
            x = t.randn(8, 6, dtype=dtype, scale=3000.0).clamp(-1e4, 1e4)
            x[0, :3] = torch.tensor([1e4, -1e4, 0.0], dtype=dtype)
            fw = t.run("sigmoid_forward", x)
            t.run("sigmoid_backward", t.randn(8, 6, dtype=dtype), fw.cache)


def softmax_ce(t):
    for dtype in DTYPES:
        for N, C in [(5, 3), (1, 7), (12, 10)]:
            with t.case(f"{dtype_name(dtype)} N={N} C={C}"):
                t.run("softmax_cross_entropy", t.randn(N, C, dtype=dtype, scale=2.0),
                      t.randint(0, C, N))


def softmax_ce_stable(t):
    for dtype in DTYPES:
        for N, C in [(6, 4), (1, 5)]:
            with t.case(f"{dtype_name(dtype)} N={N} C={C} logits ~1e4"):
                logits = t.randn(N, C, dtype=dtype, scale=1e4)
                t.run("softmax_cross_entropy", logits, t.randint(0, C, N))
    with t.case("float64 all logits equal to 1e4"):
        t.run("softmax_cross_entropy", torch.full((3, 4), 1e4, dtype=torch.float64),
              t.randint(0, 4, 3))


def mse(t):
    for dtype in DTYPES:
        for shape in [(7,), (4, 3), (2, 3, 5)]:
            with t.case(f"{dtype_name(dtype)} shape={shape}"):
                t.run("mse_loss", t.randn(*shape, dtype=dtype), t.randn(*shape, dtype=dtype))


def _params(t, sizes, dtype):
    params = {}
    for i in range(1, len(sizes)):
        params[f"W{i}"] = t.randn(sizes[i - 1], sizes[i], dtype=dtype, scale=sizes[i - 1] ** -0.5)
        params[f"b{i}"] = t.randn(sizes[i], dtype=dtype, scale=0.1)
    # Key order is arbitrary: present the keys reversed.
    return dict(reversed(list(params.items())))


def mlp(t):
    for dtype in DTYPES:
        for sizes, N in [((5, 3), 4), ((6, 8, 4), 7), ((9, 7, 5, 3), 1), ((10, 12, 11, 6), 13)]:
            with t.case(f"{dtype_name(dtype)} layers {'-'.join(map(str, sizes))} N={N}"):
                params = _params(t, sizes, dtype)
                x = t.randn(N, sizes[0], dtype=dtype)
                t.run("mlp_loss", params, x, t.randint(0, sizes[-1], N))
