"""What grading produces: a test's result and a submission's, as plain data.

Free of torch, so that what only reads or writes results (the gradebook, `dlgrade list`,
the reports) loads at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.engine.spec import TestSpec

STATUS_GRADED, STATUS_ERROR, STATUS_TIMEOUT = "graded", "error", "timeout"


@dataclass
class TestResult:
    """One test's outcome for one submission."""

    id: str
    points: float
    max_points: float
    visibility: str
    kind: str
    passed: bool
    output: str
    """What the student sees: details for public tests, kinds of failure for hidden ones."""
    description: str = ""
    cases_passed: int = 0
    cases_total: int = 0
    not_attempted: bool = False
    extra: dict = field(default_factory=dict)
    """Kind-specific figures (e.g. a performance ratio)."""


def zero_result(test: TestSpec, output: str) -> TestResult:
    """A test that could not run for this submission: no points, and the reason."""
    return TestResult(id=test.id, points=0.0, max_points=test.points,
                      visibility=test.visibility, kind=test.kind, passed=False, output=output,
                      description=test.description)


@dataclass
class SubmissionResult:
    """Everything graded for one submission."""

    submission: str
    assignment: str
    score: float
    max_score: float
    status: str
    """graded, error (could not be imported or run) or timeout."""
    reason: str
    tests: list[TestResult]
    seed: str
    """Hex of the per-submission seed the hidden inputs came from."""
    sandbox: str
    execution_time: float
    spec_digest: str
    source_digest: str = ""


PRINTED_HEADER = "your code printed"
