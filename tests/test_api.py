"""The public verbs: the same grade as the engine, and a cheap import."""

from __future__ import annotations

import subprocess
import sys

from grader import api
from tests.conftest import ROOT, SECRET


def test_importing_the_api_does_not_import_torch():
    code = "import sys, grader.api; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "False"


def test_grade_submission_through_the_api(zygote):
    suite = api.load("backprop")
    assert suite.reference is not None and suite.hidden_tests is not None
    source = (ROOT / "examples" / "backprop-class" / "alice" / "backprop.py").read_text()
    r = api.grade_submission(suite, "alice", source, zygote=zygote, secret=SECRET,
                             visibilities=("public",))
    assert r.status == "graded" and r.score == r.max_score > 0
    unread = api.grade_submission(suite, "bob", None, zygote=zygote, secret=SECRET,
                                  error="bob.zip: not a zip file")
    assert unread.status == "error" and unread.score == 0
    assert all(t.output == "bob.zip: not a zip file" for t in unread.tests)


def test_a_student_copy_loads_without_the_reference():
    suite = api.load("backprop", with_reference=False)
    assert suite.reference is None and suite.hidden_tests is None
    assert suite.public_tests is not None


def test_similarity_through_the_api(tmp_path):
    ref = (ROOT / "reference" / "pooling" / "pooling.py").read_text()
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "alice.py").write_text(ref)
    (tmp_path / "subs" / "bob.py").write_text(ref.replace("dx", "grad_x"))
    (tmp_path / "subs" / "stub.py").write_text(
        (ROOT / "assignments" / "pooling" / "pooling.py").read_text())
    run = api.similarity("pooling", [tmp_path / "subs"], tmp_path / "out", threshold=0.9)
    assert run.stub and run.compared == 3 and run.threshold == 0.9
    assert (run.pairs[0].a, run.pairs[0].b, run.pairs[0].score) == ("alice", "bob", 1.0)
    assert all(p.score == 0 for p in run.pairs if "stub" in (p.a, p.b))
    assert (tmp_path / "out" / "similarity.csv").is_file()
