"""Public tests for normalization: the same checks as the hidden ones, on fewer cases.

Run them with `dlgrade check normalization` (inputs and expected values come from fixtures/).
TODO(dlgrade new): replace the sample test with the assignment's own.
"""

import torch

from grader.testing import dtype_name


def scale_public(t):
    for dtype, (N, D) in [(torch.float64, (4, 3)), (torch.float32, (2, 5))]:
        with t.case(f"{dtype_name(dtype)} N={N} D={D}"):
            x = t.randn(N, D, dtype=dtype)
            w = t.randn(D, dtype=dtype)
            fw = t.run("scale_forward", x, w)                          # compares out
            t.run("scale_backward", t.randn(N, D, dtype=dtype), fw.cache)  # dx, dw
