"""Public-test fixtures: the reference's inputs and outputs, recorded for students.

Public tests run on a student's machine without the reference. `build` grades the
reference itself with every public test in record mode (so it also proves the reference
passes them) and saves each test's draws and expected outputs to
`assignments/<name>/fixtures/<test_id>.npz`.

A fixture recorded on one machine and rebuilt on another differs in the last bits of
the reference's float64 outputs: BLAS picks its kernels (and so its summation order) by
CPU, e.g. AVX-512 or not. `difference` tells such a rebuild from a stale fixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from grader.boundary.session import Zygote
from grader.engine import grading, sources, testing

PUBLIC_SEED_LABEL = "public"

# How far a rebuilt expected value may be from the committed one, in units of
# max(1, the committed array's largest |value|). A float64 reference that sums in another
# order moves each output by a few ulps of the terms summed (measured across two CPUs:
# at most 1e-15 of that unit); a changed reference or test moves them by far more than
# 1e-12. Drawn inputs come from a seeded generator and must match bit for bit.
REBUILD_RTOL = {np.dtype("float64"): 1e-12, np.dtype("float32"): 1e-5}


class FixtureBuildError(Exception):
    """The reference failed one of its own public tests, so no fixture was written."""


def build(suite: grading.Suite, zygote: Zygote, out_dir: Path | None = None) -> list[Path]:
    """Record every public test's fixture into `out_dir` (default: the assignment's
    fixtures/). A fixture already there that records the same, up to the summation order
    of this CPU (`difference`), is left as it is."""
    a = suite.assignment
    if suite.reference is None:
        raise FixtureBuildError(f"{a.name}: the reference solution is needed to build fixtures")
    source = (suite.reference_dir / f"{a.module}.py").read_text(encoding="utf-8")
    out_dir = out_dir or a.directory / "fixtures"
    seed = sources.derive_seed(PUBLIC_SEED_LABEL, a.name)
    written = []
    with grading.WorkerSession(zygote, a.module, source) as session:
        for test in a.tests:
            if test.visibility != "public" or test.kind == "performance":
                continue
            result = grading.run_test(suite, test, session, seed=seed, device="cpu",
                                      static_uses={}, source_mode="record")
            if not result.passed:
                raise FixtureBuildError(f"{a.name}: the reference fails its own public test "
                                        f"{test.id}: {result.output}")
            ctx: testing.TestContext = result.extra.pop("context")
            path = out_dir / f"{test.id}.npz"
            fresh = path.with_name(f".{path.name}.new")
            ctx.source.save(fresh, a.functions)
            if path.exists() and _same(fresh, path):
                fresh.unlink()  # the same up to this CPU's summation order: no churn in git
            else:
                fresh.replace(path)
            written.append(path)
    return written


def _same(fresh: Path, committed: Path) -> bool:
    try:
        return difference(fresh, committed) is None
    except (OSError, ValueError, KeyError):  # a committed file that is not a fixture
        return False


def _kinds(meta: dict) -> dict[str, str]:
    """Array key -> "draw" or "expect", from a fixture's metadata."""
    kinds: dict[str, str] = {}

    def walk(node, kind):
        if isinstance(node, dict):
            if "t" in node:
                kinds[node["t"]] = kind
            for v in node.values():
                walk(v, kind)
        elif isinstance(node, list):
            for v in node:
                walk(v, kind)

    for group in meta["groups"]:
        for entry in group:
            walk(entry["value"], entry["kind"])
    return kinds


def difference(fresh: Path, committed: Path) -> str | None:
    """Why the committed fixture is not what `fresh` (just rebuilt) records, or None when
    it is, up to the summation order of the reference's float64 outputs."""
    with np.load(fresh, allow_pickle=False) as x, np.load(committed, allow_pickle=False) as y:
        if sorted(x.files) != sorted(y.files) or "__meta__" not in x.files:
            return "it holds other arrays"
        if x["__meta__"].tobytes() != y["__meta__"].tobytes():
            return "its cases, calls or structure changed"
        kinds = _kinds(json.loads(x["__meta__"].tobytes()))
        for k in sorted(x.files):
            a, b = x[k], y[k]
            if a.shape != b.shape or a.dtype != b.dtype:
                return f"{k}: {a.dtype}{list(a.shape)} now, {b.dtype}{list(b.shape)} committed"
            if np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
                continue
            rtol = REBUILD_RTOL.get(a.dtype)
            if kinds.get(k) != "expect" or rtol is None:
                return f"{k} ({kinds.get(k, 'metadata')}) changed"
            unit = max(1.0, float(np.nanmax(np.abs(b), initial=0.0)))
            both_nan = np.isnan(a) & np.isnan(b)
            with np.errstate(invalid="ignore"):
                off = np.where(both_nan | (a == b), 0.0, np.abs(a.astype(np.float64) - b))
            if not (np.nanmax(off, initial=0.0) <= rtol * unit) or np.isnan(off).any():
                return f"{k}: an expected value moved by {np.nanmax(off):.3g}"
    return None
