"""Grading one submission: what hidden feedback may say, and a grading machinery that
fails partway (issue 14)."""

from __future__ import annotations

from pathlib import Path

from grader.engine import grading
from tests.conftest import grade

ROOT = Path(__file__).resolve().parents[2]
ALICE = (ROOT / "examples/backprop-class/alice/backprop.py").read_text()

# Correct, but relu_forward exits with a status taken from its input's bytes and
# sigmoid_forward raises with the input in the message and type name: a channel for hidden
# inputs to reach the feedback.
LEAKY = ALICE + '''

import os as _os


class LEAKbytes(Exception):
    pass


def relu_forward(x):
    _os._exit(int(x.flatten()[0].abs().item() * 1000) % 200 + 17)


def sigmoid_forward(x):
    raise ValueError("LEAK" + repr(x.flatten()[:4].tolist()))


def mse_loss(pred, target):
    raise LEAKbytes(repr(pred.flatten()[:4].tolist()))
'''


def test_hidden_feedback_carries_only_the_graders_words(zygote):
    r = grade(zygote, "backprop", LEAKY, performance=False)
    assert r.status == "graded"
    hidden = {t.id: t for t in r.tests if t.visibility == "hidden"}
    public = {t.id: t for t in r.tests if t.visibility == "public"}
    for tid in ("relu", "sigmoid", "mse"):
        assert not hidden[tid].passed
        out = hidden[tid].output
        for channel in ("status", "LEAK", "ValueError", "signal", "SIG"):
            assert channel not in out, (tid, out)
    assert "the worker crashed" in hidden["relu"].output
    assert "raised an exception" in hidden["sigmoid"].output
    # public tests (fixtures the student has) still show the worker's own words
    pub = public["activations_public"].output + public["losses_public"].output
    assert "exited with status" in pub and "ValueError: LEAK" in pub and "LEAKbytes" in pub


def test_a_machinery_failure_partway_is_an_error_never_graded(zygote):
    """A fork server that dies mid-submission (here: a test function of the grader that
    raises) once left the submission graded with a partial score."""
    import dataclasses

    from grader.engine import grading
    from tests.conftest import SECRET, suite

    s = suite("backprop")

    class Broken:
        __file__ = None

        def __getattr__(self, name):
            def test(ctx):
                if name.endswith("relu"):
                    raise RuntimeError("the fork server went away")
                return getattr(s.hidden_tests, name)(ctx)
            return test

    broken = dataclasses.replace(s, hidden_tests=Broken())
    seed = grading.submission_seed(SECRET, "backprop", "bob")
    r = grading.grade_submission(broken, "bob", ALICE, zygote=zygote, seed=seed,
                                 visibilities=("hidden",),
                                 test_ids={"linear", "relu", "sigmoid"})
    assert r.status == "error", r
    assert r.reason.startswith(grading.GRADER_ERROR) and "fork server went away" in r.reason
    assert r.score == 0 and all(t.output.startswith(grading.GRADER_ERROR) for t in r.tests)


def test_only_an_optimizer_constructed_in_a_trusted_file_is_warmed_up(monkeypatch):
    """torch.optim's optimizer objects import torch._dynamo (2.9 CPU-s) on first use: that
    import is started before any clock, where a file constructs one; a docstring naming
    one, or the functional torch.optim.adam.adam, costs nothing and warms nothing."""
    import sys

    monkeypatch.delitem(sys.modules, "torch._dynamo", raising=False)
    assert grading.lazy_imports(["opt = torch.optim.SGD([p], lr=0.1)"]) == ["torch._dynamo"]
    assert grading.lazy_imports(["from torch import optim\no = optim.Adam(ps)"]) \
        == ["torch._dynamo"]
    assert grading.lazy_imports(['"""As torch.optim.Adam (amsgrad=False)."""',
                                 "from torch.optim.adam import adam\nadam([p], [g])"]) == []


def test_grading_freezes_what_is_loaded_before_the_first_submission(zygote):
    import gc

    from tests.conftest import ROOT

    source = (ROOT / "reference" / "dropout" / "dropout.py").read_text()
    r = grade(zygote, "dropout", source, performance=False, test_ids={"dropout_eval"})
    assert r.score == r.max_score > 0
    assert grading._frozen.is_set() and gc.get_freeze_count() > 50_000


def test_executors_prepare_the_suite_before_the_first_submission(monkeypatch, zygote):
    """The lazy imports (adam's torch._dynamo, 2.9 CPU-s per process) happen while an
    executor starts, off every submission's clock; a job process does the same in its
    initializer (grader.classroom.jobprocess.start)."""
    import threading

    from grader.classroom.executors import LocalExecutor
    from tests.conftest import suite

    imported = threading.Event()

    def warm_up(s):
        t = threading.Thread(target=imported.set)
        t.start()
        return t

    monkeypatch.setattr(grading, "warm_up", warm_up)
    ex = LocalExecutor(suite("adam"), 1, zygote=zygote)
    ex.wait_ready()
    assert imported.is_set() and grading._frozen.is_set()
