"""The op count: deterministic, grows with a Python loop over a dimension, not otherwise."""

from __future__ import annotations

import torch

from grader.boundary.session import WorkerSession
from grader.engine import opcount

SOURCE = '''
import torch


def vectorized(x, w):
    return torch.relu(x @ w).sum(dim=1)


def per_row(x, w):
    return torch.stack([torch.relu(x[n] @ w).sum() for n in range(x.shape[0])])


def per_column(x, w):
    return sum(torch.relu(x @ w[:, j:j + 1]).squeeze(1) for j in range(w.shape[1]))
'''


def test_growth_verdict_is_pure_arithmetic():
    assert opcount.growth_verdict("f", "N", "the batch", 8, 16, 10, 10) == ""
    assert opcount.growth_verdict("f", "N", "the batch", 8, 16, 10, 11) == ""
    msg = opcount.growth_verdict("f", "N", "the batch", 8, 16, 40, 80)
    assert "40 aten ops at N=8 and 80 at N=16" in msg and "loops over N" in msg
    assert "N (the batch)" in msg


def test_worker_counts_ops(zygote):
    x, w = torch.randn(8, 5, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    with WorkerSession(zygote, "m", SOURCE) as s:
        counts = {}
        for fn in ("vectorized", "per_row"):
            for n in (8, 16):
                r, _ = s.call(fn, (torch.randn(n, 5, dtype=torch.float64), w),
                              count_ops=True)
                assert r.ok, r.error
                counts[fn, n] = r.op_count
        r, _ = s.call("vectorized", (x, w))
        assert r.op_count == 0  # only counted when asked
    assert counts["vectorized", 8] == counts["vectorized", 16] > 0
    assert counts["per_row", 16] - counts["per_row", 8] >= 8


class _Ctx:
    """The little of a TestContext that check_growth uses."""

    def __init__(self, session):
        self.session = session

        class _T:
            id, timeout = "perf_x", 10.0

        self.test = _T()

    def _call_failed(self, fn, result):
        raise AssertionError(result.error)


def test_check_growth_names_the_dimension(zygote):
    def make(N, M):
        return (torch.randn(N, 4, dtype=torch.float64),
                torch.randn(4, M, dtype=torch.float64)), {}

    with WorkerSession(zygote, "m", SOURCE) as s:
        t = _Ctx(s)
        msg, counts = opcount.check_growth(t, "vectorized", make, {"N": 8, "M": 8}, "N")
        assert msg == "" and counts[0] == counts[1]
        msg, _ = opcount.check_growth(t, "per_row", make, {"N": 8, "M": 8}, "N", "the batch")
        assert "loops over N" in msg
        # A loop over another dimension is not the batch's business...
        msg, _ = opcount.check_growth(t, "per_column", make, {"N": 8, "M": 8}, "N")
        assert msg == ""
        # ...but is found when that dimension is the one grown.
        msg, _ = opcount.check_growth(t, "per_column", make, {"N": 8, "M": 8}, "M")
        assert "loops over M" in msg
