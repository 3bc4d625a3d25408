"""Public tests for backprop: the same checks as the hidden ones, on fewer cases.

Run them with `dlgrade check backprop` (inputs and expected values come from fixtures/).
"""

import torch

from grader.testing import dtype_name


def linear_public(t):
    for dtype, (N, D, M) in [(torch.float64, (4, 5, 3)), (torch.float32, (2, 6, 7))]:
        with t.case(f"{dtype_name(dtype)} N={N} D={D} M={M}"):
            x = t.randn(N, D, dtype=dtype)
            w = t.randn(D, M, dtype=dtype)
            b = t.randn(M, dtype=dtype)
            fw = t.run("linear_forward", x, w, b)
            t.run("linear_backward", t.randn(N, M, dtype=dtype), fw.cache)


def activations_public(t):
    for dtype in (torch.float64, torch.float32):
        with t.case(f"relu {dtype_name(dtype)} (3, 4), column 1 exactly 0"):
            x = t.randn(3, 4, dtype=dtype)
            x[:, 1] = 0.0  # the handout's edge case: the derivative at exactly 0 is 0
            fw = t.run("relu_forward", x)
            t.run("relu_backward", t.randn(3, 4, dtype=dtype), fw.cache)
        with t.case(f"sigmoid {dtype_name(dtype)} (5, 2)"):
            x = t.randn(5, 2, dtype=dtype, scale=3.0)
            fw = t.run("sigmoid_forward", x)
            t.run("sigmoid_backward", t.randn(5, 2, dtype=dtype), fw.cache)


def losses_public(t):
    for dtype in (torch.float64, torch.float32):
        with t.case(f"softmax_cross_entropy {dtype_name(dtype)} N=4 C=3"):
            t.run("softmax_cross_entropy", t.randn(4, 3, dtype=dtype), t.randint(0, 3, 4))
        with t.case(f"mse_loss {dtype_name(dtype)} (3, 5)"):
            t.run("mse_loss", t.randn(3, 5, dtype=dtype), t.randn(3, 5, dtype=dtype))


def mlp_public(t):
    with t.case("float64 two layers 6-5-3, N=4"):
        params = {"W1": t.randn(6, 5), "b1": t.randn(5), "W2": t.randn(5, 3), "b2": t.randn(3)}
        t.run("mlp_loss", params, t.randn(4, 6), t.randint(0, 3, 4))
