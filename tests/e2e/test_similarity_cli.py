"""`dlgrade similarity` end to end: the real command on a folder of real files."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import zipfile

import nbformat
import pytest

from grader.classroom import bench_similarity as bench
from tests.conftest import ROOT

NAME = "pooling"


def dlgrade(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A class as a TA gets it: the reference and every variant as .py files, disguised
    copies of two correct variants (one handed in as a zip, one as a notebook), the
    untouched stub; and a reference corpus holding last year's copy of a third solution."""
    tmp = tmp_path_factory.mktemp("similarity")
    subs, corpus, out = tmp / "subs", tmp / "last_year", tmp / "out"
    sols = bench.solutions(NAME, ROOT)
    keep = bench.api_names(NAME, ROOT)
    subs.mkdir()
    for sid in sols:
        (subs / f"{sid}.py").write_text(sols[sid], encoding="utf-8")
    (subs / "untouched_stub.py").write_text(bench.stub(NAME, ROOT), encoding="utf-8")
    with zipfile.ZipFile(subs / "zoe.zip", "w") as zf:
        zf.writestr("zoe/pooling.py", bench.disguise(sols["correct_as_strided"], 1, keep))
    # yuri hands in a notebook: the copy split over two code cells, a check cell after.
    copy = bench.disguise(sols["correct_unfold_scatter"], 2, keep)
    half = copy.index("\ndef ", len(copy) // 2)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Pooling"),
        nbformat.v4.new_code_cell(copy[:half]), nbformat.v4.new_code_cell(copy[half:]),
        nbformat.v4.new_code_cell("maxpool2d_forward(torch.zeros(1, 1, 2, 2), 2)")])
    (subs / "yuri").mkdir()
    (subs / "yuri" / "pooling.ipynb").write_text(nbformat.writes(nb), encoding="utf-8")
    corpus.mkdir()
    (corpus / "2025_kim.py").write_text(bench.disguise(sols["naive_loops"], 3, keep),
                                        encoding="utf-8")
    proc = dlgrade("similarity", NAME, subs, "--out", out, "--against", corpus)
    count = len(list(subs.iterdir()))  # the reference, the variants, the stub, zoe, yuri
    with open(out / "similarity.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return proc, rows, out, count


def test_the_disguised_copies_are_the_two_top_pairs(run):
    proc, rows, _, _ = run
    assert proc.returncode == 0, proc.stderr
    ranked = [r for r in rows if r["kind"] == "class"]
    assert {frozenset((r["a"], r["b"])) for r in ranked[:2]} == {
        frozenset(("zoe", "correct_as_strided")), frozenset(("yuri", "correct_unfold_scatter"))}
    assert min(float(r["score"]) for r in ranked[:2]) >= 0.9
    # Every other pair is well below: the reference and its variants are written
    # independently, except that the naive variants reuse some of the reference's code.
    assert max(float(r["score"]) for r in ranked[2:]) < 0.7
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)


def test_the_untouched_stub_matches_nothing(run):
    _, rows, _, count = run
    stub_rows = [r for r in rows if "untouched_stub" in (r["a"], r["b"])]
    assert len(stub_rows) == (count - 1) + 1  # every other submission, and the corpus entry
    assert all(float(r["score"]) == 0 and r["a_lines"] == "" for r in stub_rows)


def test_the_reference_corpus_is_reported_apart(run):
    proc, rows, out, count = run
    against = [r for r in rows if r["kind"] == "against"]
    assert len(against) == count and {r["b"] for r in against} == {"2025_kim"}
    assert against[0]["a"] == "naive_loops" and float(against[0]["score"]) >= 0.9
    page = (out / "similarity.html").read_text(encoding="utf-8")
    assert "Matches with the reference corpus (--against): 1 flagged" in page
    assert "Pairs within the class: 2 flagged" in page
    assert page.count('<div class="pair">') == 3 and "<mark>" in page
    assert f"{count} submissions compared with 1 reference-corpus entry" in proc.stdout


def test_usage_errors_are_one_line_and_exit_2(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    for args, expected in (
            (["nosuch", tmp_path], "error: "),
            ([NAME, tmp_path, "--threshold", "0"], "error: threshold must be in (0, 1]; got 0"),
            ([NAME, tmp_path, "--jobs", "0"], "error: jobs must be at least 1; got 0"),
            ([NAME, tmp_path / "missing"], "error: submission path not found")):
        proc = dlgrade("similarity", *args, "--out", tmp_path / "out")
        assert proc.returncode == 2 and proc.stderr.startswith(expected), proc.stderr
        assert proc.stderr.count("\n") == 1
