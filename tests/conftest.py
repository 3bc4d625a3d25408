"""Shared fixtures: one warm worker fork server for the whole test session."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from grader.boundary.session import Zygote
from grader.engine import assignments, grading

ROOT = Path(__file__).resolve().parent.parent
SECRET = "dlgrade-tests"


@pytest.fixture(scope="session")
def zygote():
    with Zygote() as z:
        yield z


@functools.cache
def suite(name: str) -> grading.Suite:
    a = assignments.load(name, ROOT)
    return grading.load_suite(a, assignments.reference_dir(name, ROOT))


def grade(zygote, name: str, source: str, submission_id: str = "student", *,
          performance: bool = True, **kw):
    """Grade source text for assignment `name`: the whole pipeline but the CLI.
    `performance=False` leaves out the performance tests."""
    import dataclasses


    s = suite(name)
    if not performance:
        a = s.assignment
        tests = tuple(t for t in a.tests if t.kind != "performance")
        s = dataclasses.replace(s, assignment=dataclasses.replace(a, tests=tests))
    seed = grading.submission_seed(SECRET, name, submission_id)
    return grading.grade_submission(s, submission_id, source, zygote=zygote, seed=seed, **kw)
