"""The class report (report.html), built directly from results."""

from __future__ import annotations

from grader.classroom import classreport
from grader.engine import grading
from tests.conftest import suite


def _result(sid: str, score_each: float, status: str = "graded") -> grading.SubmissionResult:
    a = suite("backprop").assignment
    tests = [grading.TestResult(id=t.id, points=t.points * score_each, max_points=t.points,
                                visibility=t.visibility, kind=t.kind,
                                passed=score_each == 1.0, output="")
             for t in a.tests]
    return grading.SubmissionResult(
        submission=sid, assignment=a.name, score=sum(t.points for t in tests),
        max_score=a.max_score, status=status, reason="", tests=tests, seed="0" * 16,
        sandbox="rlimits", execution_time=1.0, spec_digest=a.digest)


def test_report_summarizes_scores_and_lists_errors():
    a = suite("backprop").assignment
    results = [_result("alice", 1.0), _result("bob", 0.5), _result("carol", 0.0, "error")]
    page = classreport.html_report(a, results)
    assert page.startswith("<!DOCTYPE html>")
    assert "3 submissions" in page
    assert "<tr><td>graded</td><td>2</td></tr>" in page
    assert "<tr><td>error</td><td>1</td></tr>" in page
    assert "<td>carol</td>" in page  # the errors table names who to look at


def test_ids_and_outputs_are_escaped():
    a = suite("backprop").assignment
    evil = _result("<script>alert(1)</script>", 0.0, "error")
    evil.reason = "<img src=x onerror=alert(1)>"
    page = classreport.html_report(a, [evil])
    assert "<script>alert(1)</script>" not in page
    assert "<img src=x" not in page


def test_an_empty_class_has_a_report():
    a = suite("backprop").assignment
    page = classreport.html_report(a, [])
    assert "No results." in page


def test_the_report_leaves_the_callers_matplotlib_backend_alone():
    """api.grade_class may run in a TA's notebook: drawing the report must not switch its
    backend (it once forced Agg through pyplot)."""
    import matplotlib

    matplotlib.use("svg")
    a = suite("backprop").assignment
    html = classreport.html_report(a, [_result("s1", 1.0), _result("s2", 0.0, "error")])
    assert "data:image/png;base64," in html
    assert matplotlib.get_backend() == "svg"
