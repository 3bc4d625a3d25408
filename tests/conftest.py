"""Shared fixtures: one warm worker fork server for the whole test session."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from grader import assignments, grading
from grader.session import Zygote

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


def grade(zygote, name: str, source: str, submission_id: str = "student", **kw):
    """Grade source text for assignment `name`: the whole pipeline but the CLI."""
    from grader import bulk

    seed = bulk.submission_seed(SECRET, name, submission_id)
    return grading.grade_source(suite(name), source, submission_id, zygote=zygote, seed=seed,
                                **kw)
