"""The TA's class-wide files: grades.csv (folder column, a row per group member),
canvas.csv, report.html's per-student table and performance plots, and the output
folder's guard against another assignment's grades."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from grader.classroom import classreport, intake, outdir, report
from grader.engine import grading
from tests.conftest import suite


def _result(sid: str, score: float, status: str = "graded", ratio: float | None = None,
            reason: str = "") -> grading.SubmissionResult:
    tests = [grading.TestResult("linear_public", 1.0 if score else 0.0, 1.0, "public",
                                "compare", bool(score),
                                "ok" if score else "db: 3 of 7 values differ")]
    if ratio is not None:
        tests.append(grading.TestResult("perf_linear", 1.0, 1.0, "hidden", "performance",
                                        True, "", extra={"ratio": ratio, "limit": 6.0}))
    return grading.SubmissionResult(sid, "backprop", score, 21.0, status, reason, tests, "00",
                                    "bwrap", 1.0, "d")


GROUP = "bob@x.edu+carol@x.edu"
RESULTS = [_result("Dina Lee", 21, ratio=1.2), _result(GROUP, 10.5, ratio=40.0),
           _result("eve<script>", 0, status="error", reason="importing failed")]
FOLDERS = intake.safe_names([r.submission for r in RESULTS])
MEMBERS = {GROUP: ["bob@x.edu", "carol@x.edu"]}


def test_grades_csv_folder_column_and_a_row_per_group_member():
    text = report.grades_csv(RESULTS, ["linear_public", "perf_linear"], FOLDERS, MEMBERS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[:5] == ["submission", "score", "max_score", "status", "folder"]
    by_id = {r["submission"]: r for r in rows}
    assert sorted(by_id) == ["Dina Lee", "bob@x.edu", "carol@x.edu", "eve<script>"]
    # an id with a space is matched to its folder through the column
    assert by_id["Dina Lee"]["folder"] == FOLDERS["Dina Lee"] != "Dina Lee"
    assert by_id["bob@x.edu"]["folder"] == by_id["carol@x.edu"]["folder"] == FOLDERS[GROUP]
    assert by_id["bob@x.edu"]["score"] == by_id["carol@x.edu"]["score"] == "10.5"


def test_canvas_csv():
    text = report.canvas_csv(RESULTS, "Backprop (1234)", 21, MEMBERS)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "Backprop (1234)"]
    assert rows[1][0].strip() == "Points Possible" and rows[1][-1] == "21"
    assert ["bob@x.edu", "", "", "bob@x.edu", "", "10.5"] in rows
    assert ["carol@x.edu", "", "", "carol@x.edu", "", "10.5"] in rows
    assert len(rows) == 2 + 4


def test_report_html_students_table_and_perf_plots():
    a = suite("backprop").assignment
    page = classreport.html_report(a, RESULTS, FOLDERS)
    students = page[page.index("<h2>Submissions (3)</h2>"):]
    for sid in ("Dina Lee", "bob@x.edu+carol@x.edu"):
        assert f'<a href="{FOLDERS[sid].replace("@", "%40").replace("+", "%2B")}' \
               f'/feedback.txt">' in students, sid
    assert "eve&lt;script&gt;" in students and "<script>" not in page
    assert "10.50 / 21" in students and "all tests passed" in students
    assert "importing failed" in students
    # the performance section has a plot and says what a dot is
    perf = page[page.index("<h2>Performance</h2>"):page.index("<h2>Errors")]
    assert perf.count("<img") == 1 and "One dot per timed submission" in perf


def test_strip_plot_draws_every_ratio_and_the_limit():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    classreport._strip_plot(ax, [1.0, 1.0, 1.1, 150.0], 6.0, "perf_x")
    (dots,) = ax.collections
    assert len(dots.get_offsets()) == 4
    assert ax.get_yscale() == "log" and ax.get_ylim()[1] >= 150
    assert [line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"] \
        == [6.0]
    plt.close(fig)


def test_out_dir_refusals(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(outdir.OutDirError, match="is a file"):
        outdir.check_out_dir(f, "backprop")
    with pytest.raises(outdir.OutDirError, match="is a file"):
        outdir.check_out_dir(f / "below", "backprop")
    out = tmp_path / "out"
    outdir.check_out_dir(out, "backprop")  # missing: fine, created later
    (out / "alice").mkdir(parents=True)
    # a folder written before markers existed is recognised by its results
    (out / "alice" / "results.json").write_text(json.dumps({"assignment": "pooling"}))
    with pytest.raises(outdir.OutDirError, match=re.escape("assignment 'pooling', not "
                                                         "'backprop'")):
        outdir.check_out_dir(out, "backprop")
    outdir.check_out_dir(out, "backprop", force=True)
    outdir.check_out_dir(out, "pooling")
    (out / outdir.MARKER).write_text(json.dumps({"assignment": "backprop"}))
    outdir.check_out_dir(out, "backprop")
    with pytest.raises(outdir.OutDirError):
        outdir.check_out_dir(out, "pooling")
