"""Grading many submissions: the loop behind `dlgrade grade`.

Each submission is graded in its own worker; a failure of any kind becomes that
submission's zero-score result and never stops the run. Results are written per
submission as soon as they are known.
"""

from __future__ import annotations

import os
import secrets as _secrets
from dataclasses import dataclass
from pathlib import Path

from grader import grading, intake, report, testing
from grader.session import Zygote


@dataclass
class GradeRun:
    """The outcome of one `grade` invocation."""

    results: list[grading.SubmissionResult]
    out_dir: Path


def resolve_secret(secret: str | None, out_dir: Path) -> str:
    """--secret, else $DLGRADE_SECRET, else a secret kept in the output folder, so that a
    regrade into the same folder derives the same hidden inputs."""
    if secret:
        return secret
    if os.environ.get("DLGRADE_SECRET"):
        return os.environ["DLGRADE_SECRET"]
    path = out_dir / ".secret"
    if path.exists():
        return path.read_text().strip()
    out_dir.mkdir(parents=True, exist_ok=True)
    value = _secrets.token_hex(16)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def submission_seed(secret: str, assignment: str, submission_id: str) -> int:
    return testing.derive_seed(secret, assignment, submission_id)


def error_result(suite: grading.Suite, sub: intake.Submission, seed: int,
                 sandbox: str) -> grading.SubmissionResult:
    a = suite.assignment
    tests = [grading.zero_result(t, sub.error or "") for t in a.tests]
    return grading.SubmissionResult(
        submission=sub.id, assignment=a.name, score=0.0, max_score=a.max_score,
        status=grading.STATUS_ERROR, reason=sub.error or "", tests=tests, seed=f"{seed:016x}",
        sandbox=sandbox, execution_time=0.0, spec_digest=a.digest, source_digest=sub.digest)


def grade_one(suite: grading.Suite, sub: intake.Submission, *, zygote: Zygote, secret: str,
              device: str, timeout: float | None = None) -> grading.SubmissionResult:
    seed = submission_seed(secret, suite.assignment.name, sub.id)
    sandbox = zygote.sandbox.name
    if sub.source is None:
        return error_result(suite, sub, seed, sandbox)
    return grading.grade_source(suite, sub.source, sub.id, zygote=zygote, seed=seed,
                                device=device, sandbox_name=sandbox,
                                source_digest=sub.digest, timeout=timeout,
                                load_timeout=3 * timeout if timeout else 30.0)


def grade_all(suite: grading.Suite, subs: list[intake.Submission], out_dir: Path, *,
              secret: str, device: str, zygote: Zygote,
              timeout: float | None = None) -> GradeRun:
    folders = intake.safe_names([s.id for s in subs])
    results = []
    for sub in subs:
        r = grade_one(suite, sub, zygote=zygote, secret=secret, device=device, timeout=timeout)
        report.write_submission(out_dir, folders[sub.id], r, suite.assignment.title)
        results.append(r)
    test_ids = [t.id for t in suite.assignment.tests]
    report.write_atomic(out_dir / "grades.csv", report.grades_csv(results, test_ids))
    return GradeRun(results, out_dir)
