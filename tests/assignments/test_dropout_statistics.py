"""Dropout's forbidden list bans the library's dropout without banning the random draws a
solution needs.

That its statistical tests never fail a correct solution (each 6-sigma check fails one
with probability about 2e-9) is checked with every other hidden test by
tests/assignments/test_many_ids.py: the reference and every correct variant, under many
submission ids (`DLGRADE_MANY_IDS=300` for the full check), in one process.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grader.engine import assignments, forbidden, grading, testing

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def suite():
    a = assignments.load("dropout", ROOT)
    return grading.load_suite(a, assignments.reference_dir("dropout", ROOT))


def _ops(fn, Recorder) -> set[str]:
    rec = Recorder()
    with rec:
        fn()
    return rec.ops


def test_random_draws_are_allowed(suite, Recorder):
    x = torch.randn(4, 5)
    g = torch.Generator().manual_seed(0)
    draws = {
        "torch.rand": lambda: torch.rand(x.shape, generator=g, dtype=x.dtype),
        "torch.rand_like": lambda: torch.rand_like(x),
        "torch.bernoulli": lambda: torch.bernoulli(torch.full_like(x, 0.7), generator=g),
        "Tensor.bernoulli_": lambda: torch.empty_like(x).bernoulli_(0.7, generator=g),
        "Tensor.uniform_": lambda: torch.empty_like(x).uniform_(generator=g),
    }
    for name, fn in draws.items():
        ops = _ops(fn, Recorder)
        assert ops, name
        assert not testing.forbidden_matches(ops, suite.assignment.forbidden_aten), name


def test_library_dropout_is_forbidden(suite, Recorder):
    a = suite.assignment
    # At run time: native_dropout (what torch.native_dropout and the CUDA path dispatch).
    ops = _ops(lambda: torch.native_dropout(torch.randn(3, 4), 0.5, True), Recorder)
    assert testing.forbidden_matches(ops, a.forbidden_aten)
    # Statically: every spelling of the library's dropout taints the function using it.
    uses = [
        "import torch.nn.functional as F\ndef f(x, p):\n    return F.dropout(x, p)\n",
        "import torch\ndef f(x, p):\n    return torch.nn.functional.dropout(x, p, True)\n",
        "import torch\ndef f(x, p):\n    return torch.nn.Dropout(p)(x)\n",
        "from torch import nn\ndef f(x, p):\n    return nn.AlphaDropout(p)(x)\n",
        "import torch\ndef f(x, p):\n    return torch.dropout(x, p, True)\n",
        "import torch\ndef f(x, p):\n    return torch.native_dropout(x, p, True)\n",
        "import torch\ndef f(x, p):\n    return torch.feature_alpha_dropout(x, p, True)\n",
        "import torch\ndef f(x, p):\n    return torch.ops.aten.native_dropout(x, p, True)\n",
        "from torch.nn.functional import dropout as d\ndef f(x, p):\n    return d(x, p)\n",
    ]
    for src in uses:
        assert "f" in forbidden.scan(src, a.forbidden_python, a.forbidden_aten), src
    fine = ("import torch\ndef f(x, p, g):\n    m = torch.rand(x.shape, generator=g) >= p\n"
            "    return x * m / (1 - p), torch.bernoulli(x, generator=g)\n")
    assert forbidden.scan(fine, a.forbidden_python, a.forbidden_aten) == {}
