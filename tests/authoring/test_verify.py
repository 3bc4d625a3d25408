"""Release verification, called directly: each problem one line naming the assignment."""

from __future__ import annotations

import shutil

from grader.authoring import verify
from grader.engine import assignments, grading
from tests.conftest import ROOT


def _suite(tmp_path, name="backprop"):
    for part in ("assignments", "reference"):
        shutil.copytree(ROOT / part / name, tmp_path / part / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    a = assignments.load(name, tmp_path)
    return grading.load_suite(a, assignments.reference_dir(name, tmp_path))


def test_a_stale_stub_and_missing_hidden_tests_are_refused(tmp_path, zygote):
    stub = tmp_path / "assignments" / "backprop" / "backprop.py"
    suite = _suite(tmp_path)
    stub.write_text(stub.read_text() + "\n# a student's edit\n")
    (tmp_path / "reference" / "backprop" / "hidden_tests.py").unlink()
    suite = grading.Suite(suite.assignment, suite.reference, None, suite.public_tests,
                          suite.signatures, suite.reference_dir)
    v = verify.verify(suite, zygote)
    assert not v.ok
    assert "backprop: the stub backprop.py is stale: run `dlgrade build backprop`" in v.problems
    assert any(p.startswith("backprop: hidden tests are listed but reference/backprop/"
                            "hidden_tests.py is missing") for p in v.problems), v.problems


def test_no_reference_is_one_problem(tmp_path, zygote):
    suite = _suite(tmp_path)
    suite = grading.Suite(suite.assignment, None, None, suite.public_tests, suite.signatures,
                          None)
    v = verify.verify(suite, zygote)
    assert v.problems == ["backprop: no reference solution reference/backprop/backprop.py"]
