"""attention's forbidden ops: the reference and its variants dispatch none of them, and a
submission that lets the library do the work scores 0 on exactly the tests of the
functions that use it (static scan or run-time trace), with the reason in the feedback."""

from __future__ import annotations

import pytest
import torch

from grader.engine import forbidden, testing
from tests.assignments.test_attention_oracle import _params, ref
from tests.conftest import ROOT, grade, suite

NAME = "attention"
ATTENTION_FUNCTIONS = {"attention_forward", "attention_backward",
                       "multihead_attention_forward", "multihead_attention_backward"}
FORWARD_FUNCTIONS = {"attention_forward", "multihead_attention_forward"}
BACKWARD_CHEATS = {"softmax_backward"}


def _reference_ops(dtype, Recorder) -> set[str]:
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 4, 5, generator=g, dtype=dtype)
    k = torch.randn(2, 3, 6, 5, generator=g, dtype=dtype)
    v = torch.randn(2, 3, 6, 2, generator=g, dtype=dtype)
    mask = torch.rand(3, 4, 6, generator=g) < 0.5
    mask[0, 1] = False
    x = torch.randn(2, 4, 8, generator=g, dtype=dtype)
    params = {n: p.to(dtype) for n, p in _params(8, g).items()}
    rec = Recorder()
    with rec:
        out, cache = ref.attention_forward(q, k, v, mask)
        ref.attention_backward(torch.ones_like(out), cache)
        out, cache = ref.attention_forward(q, k, v)
        ref.attention_backward(torch.ones_like(out), cache)
        out, cache = ref.multihead_attention_forward(x, x, params, 2, ref.causal_mask(4))
        ref.multihead_attention_backward(torch.ones_like(out), cache)
        ref.causal_mask(4, 6)
        ref.positional_encoding(5, 6, dtype=dtype)
    return rec.ops


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_reference_dispatches_no_forbidden_op(dtype, Recorder):
    a = suite(NAME).assignment
    ops = _reference_ops(dtype, Recorder)
    assert {"bmm", "exp", "amax"} <= ops  # the trace sees the reference's work
    assert testing.forbidden_matches(ops, a.forbidden_aten) == []


def test_forbidden_patterns_catch_the_library(Recorder):
    """The trace of the library attention and softmax matches the spec's patterns."""
    a = suite(NAME).assignment
    q = torch.randn(2, 3, 4, dtype=torch.float64)
    calls = [
        lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q),
        lambda: torch.nn.functional.scaled_dot_product_attention(
            q.float(), q.float(), q.float(), attn_mask=torch.ones(3, 3, dtype=torch.bool)),
        lambda: q.softmax(-1),
        lambda: torch.nn.functional.log_softmax(q, -1),
        lambda: q.logsumexp(-1),
        lambda: torch.special.softmax(q, -1),
        lambda: torch.ops.aten._softmax_backward_data(q, q, -1, q.dtype),
    ]
    for call in calls:
        rec = Recorder()
        with rec:
            call()
        assert testing.forbidden_matches(rec.ops, a.forbidden_aten), sorted(rec.ops)


@pytest.mark.parametrize("path", sorted((ROOT / "reference" / NAME).glob("**/*.py")),
                         ids=lambda p: p.name)
def test_reference_and_variants_pass_the_static_scan(path):
    if path.name == "hidden_tests.py":
        return
    a = suite(NAME).assignment
    uses = forbidden.scan(path.read_text(), a.forbidden_python, a.forbidden_aten)
    assert uses == {}


def _source_with(old: str, new: str) -> str:
    source = (ROOT / "reference" / NAME / f"{NAME}.py").read_text()
    assert source.count(old) == 1
    return source.replace(old, new)


CHEATS = {
    # Static: the scan sees the library attention (and multihead_* calls attention_forward).
    "sdpa": ("    out = p @ v  # (B..., L, Ev)",
             "    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)",
             "scaled_dot_product_attention"),
    # Run time: a softmax the scan cannot see, caught by the aten trace.
    "hidden_softmax": ("    p = e / denom  # (B..., L, S)",
                       "    p = getattr(torch, 'soft' + 'max')(scores, dim=-1)\n"
                       "    p = torch.nan_to_num(p, nan=0.0)",
                       "_softmax"),
    # Static: the library's softmax backward through torch.ops.aten.
    "softmax_backward": (
        "    ds = p * (dp - (p * dp).sum(dim=-1, keepdim=True))  # (B..., L, S)",
        "    ds = torch.ops.aten._softmax_backward_data(dp, p, -1, p.dtype)",
        "_softmax_backward_data"),
}


@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_library_attention_scores_zero_on_exactly_its_tests(cheat, zygote):
    old, new, reason = CHEATS[cheat]
    a = suite(NAME).assignment
    r = grade(zygote, NAME, _source_with(old, new), submission_id=f"cheat-{cheat}")
    assert r.status == "graded"
    for t in r.tests:
        spec = a.test(t.id)
        # A backward-only cheat leaves the forward's performance tests (which time only
        # a forward) untouched; every other test of these functions calls the backward.
        cheated = (ATTENTION_FUNCTIONS - FORWARD_FUNCTIONS if cheat in BACKWARD_CHEATS
                   else ATTENTION_FUNCTIONS)
        if cheated & set(spec.functions):
            assert t.points == 0, f"{t.id}: {t.output}"
            assert "forbidden" in t.output and reason in t.output, f"{t.id}: {t.output}"
        else:
            assert t.points == t.max_points, f"{t.id}: {t.output}"
