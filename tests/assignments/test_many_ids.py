"""Correct code keeps every point whatever its submission id.

The hidden inputs come from the submission id, so a tolerance that is too tight for one
correct style fails a few students in a hundred by chance (issue 15: a float32 softmax
cross-entropy lost a point for about 1 id in 150). Every correct variant
(`reference/<name>/variants/correct_*.py`) and the reference run every hidden correctness
test under many ids, in this process (tests/assignments/inprocess.py says why that is as
strong as grading through a worker for this purpose, and much cheaper).

The suite runs a few dozen ids; the full check is

    DLGRADE_MANY_IDS=300 .venv/bin/python -m pytest -q tests/assignments/test_many_ids.py

(the count is recorded in docs/coverage.md).
"""

from __future__ import annotations

import os

import pytest

from grader.engine import assignments
from tests.assignments import inprocess
from tests.conftest import ROOT, suite

NAMES = assignments.available(ROOT)
IDS = int(os.environ.get("DLGRADE_MANY_IDS", "24"))

SUBJECTS = [(n, p) for n in NAMES
            for p in [ROOT / "reference" / n / f"{n}.py",
                      *sorted((ROOT / "reference" / n / "variants").glob("correct_*.py"))]]


@pytest.mark.parametrize("name,path", SUBJECTS,
                         ids=[f"{n}-{p.stem}" for n, p in SUBJECTS])
def test_correct_code_passes_under_many_ids(name, path):
    s = suite(name)
    module = inprocess.load_variant(path)
    ids = [f"student{i:04d}" for i in range(IDS)]
    failures = inprocess.run_ids(s, module, ids)
    shown = "\n".join(f"  {sid} {tid} [{label}]: {msg}" for sid, tid, label, msg
                      in failures[:10])
    assert not failures, f"{path.name}: {len(failures)} failed cases over {IDS} ids:\n{shown}"
