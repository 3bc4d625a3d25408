"""Public-test fixtures: the reference's inputs and outputs, recorded for students.

Public tests run on a student's machine without the reference. `build` grades the
reference itself with every public test in record mode (so it also proves the reference
passes them) and saves each test's draws and expected outputs to
`assignments/<name>/fixtures/<test_id>.npz`.
"""

from __future__ import annotations

from pathlib import Path

from grader.boundary.session import Zygote
from grader.engine import grading, sources, testing

PUBLIC_SEED_LABEL = "public"


class FixtureBuildError(Exception):
    """The reference failed one of its own public tests, so no fixture was written."""


def build(suite: grading.Suite, zygote: Zygote, out_dir: Path | None = None) -> list[Path]:
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
            ctx.source.save(path, a.functions)
            written.append(path)
    return written
