"""Public tests for the pooling assignment (run them with `dlgrade check pooling`).

Inputs and expected outputs come from fixtures recorded from the reference solution.
"""

import torch

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


def maxpool_public(t):
    for dtype in DTYPES:
        for cfg in CONFIGS:
            with t.case(_label(dtype, cfg)):
                _pool(t, "maxpool2d", dtype, cfg)


def avgpool_public(t):
    for dtype in DTYPES:
        for cfg in CONFIGS:
            with t.case(_label(dtype, cfg)):
                _pool(t, "avgpool2d", dtype, cfg)
