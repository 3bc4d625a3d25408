"""The verbs to script against: load an assignment, grade one submission, grade a class,
compare a class's code.

    from grader import api
    suite = api.load("backprop")
    result = api.grade_submission(suite, "alice", source, zygote=zygote, secret="s")

Everything here is the library the `dlgrade` command is a thin layer over; torch loads
when a function is first called, not on import.
"""

from __future__ import annotations

from pathlib import Path


def load(name: str, *, with_reference: bool = True, root: Path | None = None):
    """An assignment's `Suite`: its spec, public tests and, when `with_reference` and the
    instructor's `reference/<name>/` is present, the reference and hidden tests."""
    from grader.engine import assignments, grading

    a = assignments.load(name, root)
    ref = assignments.reference_dir(name, root) if with_reference else None
    return grading.load_suite(a, ref)


def grade_submission(suite, submission_id: str, source: str | None, **kwargs):
    """Grade one submission: grader.engine.grading.grade_submission (see there)."""
    from grader.engine import grading

    return grading.grade_submission(suite, submission_id, source, **kwargs)


def grade_class(suite, submissions, out_dir: Path, **kwargs):
    """Grade a class into `out_dir`: grader.classroom.bulk.grade_all (see there)."""
    from grader.classroom import bulk

    return bulk.grade_all(suite, submissions, Path(out_dir), **kwargs)


def similarity(name: str, submissions, out_dir: Path, *, against=(), root: Path | None = None,
               **kwargs):
    """Code similarity across a class into `out_dir` (similarity.csv, similarity.html):
    `submissions` and `against` (a reference corpus) are paths read as `dlgrade grade`
    reads them, the assignment's stub is the boilerplate; the rest is
    grader.classroom.similarity.write (see there). Returns its `Run`."""
    from grader.classroom import intake
    from grader.classroom import similarity as sim
    from grader.engine import assignments

    a = assignments.load(name, root)
    subs = intake.collect([Path(p) for p in submissions], a.module)
    corpus = intake.collect([Path(p) for p in against], a.module) if against else []
    stub_path = a.directory / f"{a.module}.py"
    stub = stub_path.read_text(encoding="utf-8") if stub_path.is_file() else None
    return sim.write(Path(out_dir), a.title, subs, corpus, stub=stub, **kwargs)
