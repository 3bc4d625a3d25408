"""Shared fixtures: one warm worker fork server for the whole test session."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import pytest

from grader.boundary.session import Zygote
from grader.engine import assignments, grading

ROOT = Path(__file__).resolve().parent.parent
SECRET = "dlgrade-tests"


def pytest_configure(config):
    # `make test` runs two test processes (pytest-xdist). They take turns timing (one slot,
    # where `dlgrade grade --jobs N` has one per core): a process here may run a whole
    # class or a release beside the other's timing, and the timing tests' own margins are
    # made for one timed section at a time.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        from grader.engine import clock

        clock.TIMING_LOCK.share(os.path.join(
            tempfile.gettempdir(), f"dlgrade-tests-timing-{os.getuid()}.lock"), slots=1)


def pytest_collection_modifyitems(items):
    # `make test` sends each file to one test process (--dist loadfile: a module's fixture,
    # a graded class or a release, is built once). Files with a slow test go first, so that
    # the processes take the longest work first instead of one of them ending the run alone
    # with a minute of the adversarial suite.
    slow = {i.path for i in items if i.get_closest_marker("slow")}
    items.sort(key=lambda i: i.path not in slow)


def _recorders() -> list:
    from grader.boundary import oprecord
    from grader.boundary.worker import OpRecorder

    return [OpRecorder] + ([oprecord.NativeRecorder] if oprecord.mode() == "native" else [])


@pytest.fixture(params=_recorders(), ids=lambda r: r.__name__)
def Recorder(request):  # noqa: N802 - a class
    """Each op recorder a worker may use: what a test says of the op record holds for both
    (the native one also names nested ops: torch.matmul's mm)."""
    return request.param


@pytest.fixture(scope="session")
def zygote():
    with Zygote() as z:
        yield z


@pytest.fixture(scope="module")
def python_zygote():
    """A fork server whose workers record with the Python recorders, the fallback where the
    native one cannot be built (DLGRADE_RECORDER=python, for its process only)."""
    from grader.boundary import oprecord

    oprecord.mode()  # this process's own choice, made (and cached) without the variable
    os.environ["DLGRADE_RECORDER"] = "python"
    try:
        z = Zygote()
    finally:
        del os.environ["DLGRADE_RECORDER"]
    with z:
        z.wait_ready()
        assert z.recorder == "python"
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
