"""Grading a class: zips with bad entries, resuming, SIGKILL and rerun, Dask."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from grader.classroom import bench_grading, bulk, intake, outdir, report
from grader.classroom.executors import Task
from tests.conftest import ROOT, SECRET, suite

REF = (ROOT / "reference" / "backprop" / "backprop.py").read_text()
STUB = (ROOT / "assignments" / "backprop" / "backprop.py").read_text()
MUTANTS = bench_grading.mutants(ROOT)


def _grade(zygote, folder: Path, out: Path, **kw) -> bulk.GradeRun:
    s = suite("backprop")
    subs = intake.collect([folder], s.assignment.module)
    kw.setdefault("class_report", False)
    return bulk.grade_all(s, subs, out, secret=SECRET, device="cpu", zygote=zygote,
                          progress=False, **kw)


def _rows(out: Path) -> list[str]:
    return (out / "grades.csv").read_text().splitlines()


def _results(out: Path) -> dict[str, dict]:
    """Every results.json, execution_time and the isolation used aside (the command line
    sandboxes with bubblewrap where it can; the test fixture's fork server does not)."""
    found = {}
    for p in sorted(out.glob("*/results.json")):
        data = json.loads(p.read_text())
        data.pop("execution_time")
        data.pop("sandbox")
        for t in data["tests"]:  # timings of performance tests vary from run to run
            t.pop("extra_data", None)
            if t["name"].startswith("perf_"):
                t.pop("output")
        found[p.parent.name] = data
    return found


def test_bad_zips_get_error_results_and_the_class_is_graded(zygote, tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    with zipfile.ZipFile(cls / "good.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("good/backprop.py", REF)
    with zipfile.ZipFile(cls / "traversal.zip", "w") as zf:
        zf.writestr("backprop.py", REF)
        zf.writestr("../../evil.py", "x = 1\n")
    with zipfile.ZipFile(cls / "symlink.zip", "w") as zf:
        info = zipfile.ZipInfo("backprop.py")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/work/reference/backprop/backprop.py")
    with zipfile.ZipFile(cls / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("backprop.py", "#" * (3 * intake.MAX_SOURCE_BYTES))
    assert (cls / "bomb.zip").stat().st_size < 100_000
    (cls / "stub.py").write_text(STUB)
    run = _grade(zygote, cls, tmp_path / "out", class_report=True)
    by = {r.submission: r for r in run.results}
    assert sorted(by) == ["bomb", "good", "stub", "symlink", "traversal"]
    assert by["good"].status == "graded" and by["good"].score == by["good"].max_score
    assert by["stub"].status == "graded" and by["stub"].score == 0
    for sid, why in [("traversal", "'..'"), ("symlink", "symbolic link"),
                     ("bomb", str(intake.MAX_SOURCE_BYTES))]:
        r = by[sid]
        assert r.status == "error" and r.score == 0 and why in r.reason, (sid, r.reason)
        res = json.loads((tmp_path / "out" / sid / "results.json").read_text())
        assert res["status"] == "error" and why in res["output"]
        assert why in (tmp_path / "out" / sid / "feedback.txt").read_text()
    html = (tmp_path / "out" / "report.html").read_text()
    assert "symbolic link" in html and "data:image/png;base64," in html


def test_rerun_reuses_what_is_unchanged_and_regrades_the_rest(zygote, tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "ref.py").write_text(REF)
    (cls / "stub.py").write_text(STUB)
    (cls / "crash.py").write_text("raise RuntimeError('at import')\n")
    (cls / "mut.py").write_text(MUTANTS["relu_grad_at_zero"])
    out = tmp_path / "out"
    first = _grade(zygote, cls, out)
    assert (first.graded, first.reused) == (4, 0)
    rows, results = _rows(out), _results(out)

    again = _grade(zygote, cls, out)
    assert (again.graded, again.reused) == (0, 4)
    assert _rows(out) == rows and _results(out) == results

    # A corrupt results file, a truncated one and a changed source are graded again.
    (out / "ref" / "results.json").write_text('{"score": 17, "tests": [')
    (out / "stub" / "results.json").write_text("[]")
    (cls / "mut.py").write_text(MUTANTS["softmax_no_max_shift"])
    third = _grade(zygote, cls, out)
    assert (third.graded, third.reused) == (3, 1)
    def unchanged(lines):
        return [x for x in lines if not x.startswith('"mut"')]

    assert unchanged(_rows(out)) == unchanged(rows)  # regraded to the same results
    assert _results(out)["mut"]["source_digest"] != results["mut"]["source_digest"]

    forced = _grade(zygote, cls, out, force=True)
    assert (forced.graded, forced.reused) == (4, 0)

    # Another secret means other hidden inputs: nothing is reused.
    s = suite("backprop")
    subs = intake.collect([cls], "backprop")
    other = bulk.grade_all(s, subs, out, secret="another", device="cpu", zygote=zygote,
                           progress=False, class_report=False)
    assert other.reused == 0


def test_results_json_round_trip(zygote, tmp_path):
    from tests.conftest import grade

    r = grade(zygote, "backprop", MUTANTS["relu_grad_at_zero"], "rt")
    r.tests[0].extra = {"ratio": 1.5, "limit": 4.0}
    kinds = {t.id: t.kind for t in suite("backprop").assignment.tests}
    back = report.result_from_json(json.loads(json.dumps(report.results_json(r))), kinds)
    ids = [t.id for t in r.tests]
    assert report.grades_csv([back], ids) == report.grades_csv([r], ids)
    assert report.feedback_text(back) == report.feedback_text(r)
    assert back.tests[0].extra == {"ratio": 1.5, "limit": 4.0}
    with pytest.raises(report.ResultsFormatError):
        report.result_from_json({"tests": [{"name": "x"}]})


def _class_of_8(folder: Path) -> None:
    folder.mkdir()
    muts = sorted(MUTANTS)
    srcs = [REF, REF, STUB, MUTANTS[muts[0]], MUTANTS[muts[3]], MUTANTS[muts[6]],
            "raise RuntimeError('at import')\n" + REF, REF.replace("def mse_loss(", "def mse(")]
    for i, src in enumerate(srcs):
        (folder / f"s{i}.py").write_text(src)


def _cli(*args) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "grader", "grade", "backprop", *map(str, args)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


@pytest.mark.slow
def test_sigkill_then_rerun_gives_the_uninterrupted_results(zygote, tmp_path):
    cls = tmp_path / "class"
    _class_of_8(cls)
    baseline = tmp_path / "baseline"
    _grade(zygote, cls, baseline)

    out = tmp_path / "out"
    proc = _cli(cls, "--out", out, "--secret", SECRET, "--jobs", "2")
    deadline = time.monotonic() + 240
    while not list(out.glob("*/results.json")) and time.monotonic() < deadline \
            and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole group: grader, fork server, workers
    proc.communicate()
    done_at_kill = len(list(out.glob("*/results.json")))
    assert 0 < done_at_kill < 8, "the kill should land mid-run"
    assert not (out / "grades.csv").exists()

    proc = _cli(cls, "--out", out, "--secret", SECRET, "--jobs", "2")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    # Each submission graded once: the rerun grades exactly what the first run had not.
    assert f"{8 - done_at_kill} graded now, {done_at_kill} unchanged" in stdout
    assert _rows(out) == _rows(baseline)
    assert _results(out) == _results(baseline)
    # no temporaries left (the secret and the folder's assignment marker are meant to stay)
    assert not [p for p in out.rglob(".*") if p.name not in (".secret", outdir.MARKER)]


@pytest.mark.slow
def test_dask_executor_grades_like_the_local_one(zygote, tmp_path):
    pytest.importorskip("distributed")
    from grader.classroom.executors import DaskExecutor

    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "ref.py").write_text(REF)
    (cls / "stub.py").write_text(STUB)
    (cls / "mut.py").write_text(MUTANTS["mse_missing_half"])
    (cls / "crash.py").write_text("import os\nos._exit(3)\n")
    local = tmp_path / "local"
    _grade(zygote, cls, local)
    out = tmp_path / "dask"
    # A LocalCluster of two in-process workers (what `--executor dask` without --scheduler
    # starts, minus the worker processes, which cost an `import torch` each).
    ex = DaskExecutor(None, 2, processes=False)
    try:
        s = suite("backprop")
        run = bulk.grade_all(s, intake.collect([cls], "backprop"), out, secret=SECRET,
                             device="cpu", executor=ex, progress=False, class_report=False)
    finally:
        ex.close()
    assert run.graded == 4 and not run.failed
    assert _rows(out) == _rows(local)
    assert _results(out) == _results(local)


# ---------------------------------------------------------------------------- issue 14
def test_a_lone_surrogate_or_deep_nesting_does_not_stop_the_class(zygote, tmp_path):
    """An exception message with a lone surrogate made writing feedback.txt raise
    UnicodeEncodeError: the run aborted with no grades.csv (and every rerun too)."""
    cls = tmp_path / "class"
    cls.mkdir()
    raising = "".join(
        f"def {fn}(*args, **kwargs):\n    raise ValueError('bad \\udcff byte')\n\n"
        for fn in ("linear_forward", "linear_backward", "relu_forward", "relu_backward",
                   "sigmoid_forward", "sigmoid_backward", "softmax_cross_entropy",
                   "mse_loss", "mlp_loss"))
    (cls / "surrogate.py").write_text(raising)
    (cls / "deep.py").write_text("x = " + "-" * 20000 + "1\n")
    (cls / "stub.py").write_text(STUB)
    run = _grade(zygote, cls, tmp_path / "out")
    assert not run.failed
    rows = _rows(tmp_path / "out")
    assert len(rows) == 4 and {r.split(",")[0] for r in rows[1:]} == {
        '"deep"', '"stub"', '"surrogate"'}
    fb = (tmp_path / "out" / "surrogate" / "feedback.txt").read_text()
    assert "bad ? byte" in fb
    deep = _results(tmp_path / "out")["deep"]
    assert deep["status"] == "error" and "cannot be parsed" in deep["output"]


def test_a_machinery_failure_is_an_error_row_graded_again_by_a_rerun(zygote, tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    for name in ("a", "b"):
        (cls / f"{name}.py").write_text(STUB)

    class LostWorkers:
        sandbox_name = "rlimits"

        def run(self, tasks):
            for t in tasks:
                yield t, RuntimeError("the Dask worker was lost")

    s = suite("backprop")
    subs = intake.collect([cls], s.assignment.module)
    out = tmp_path / "out"
    run = bulk.grade_all(s, subs, out, secret=SECRET, device="cpu", executor=LostWorkers(),
                         progress=False, class_report=False)
    assert sorted(sid for sid, _ in run.failed) == ["a", "b"]
    rows = _rows(out)
    assert len(rows) == 3 and all(',"error",' in r for r in rows[1:])
    assert "the Dask worker was lost" in _results(out)["a"]["output"]
    again = _grade(zygote, cls, out)
    assert again.graded == 2 and again.reused == 0 and not again.failed
    assert all(',"graded",' in r for r in _rows(out)[1:])


@dataclasses.dataclass(frozen=True)
class _DiesOnce(Task):
    """Grading it kills its job process the first time (a marker file remembers)."""

    marker: str = ""

    def grade(self, suite, zygote):
        if not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)
        return super().grade(suite, zygote)


def test_job_processes_grade_in_parallel_and_survive_one_that_dies(tmp_path):
    """`--jobs N` grades in N job processes (threads shared one GIL); one that dies is
    replaced and what it had not finished is graded again, not lost."""
    from grader.boundary import sandbox
    from grader.classroom.executors import ProcessExecutor

    s = suite("backprop")
    subs = {"ok": REF, "dies": REF, "stub": STUB}
    tasks = [_DiesOnce(assignment="backprop", submission=sid, source=src, seed=7,
                       device="cpu", source_digest="", spec_digest=s.assignment.digest,
                       suite_digest="", marker=str(tmp_path / f"{sid}.died")
                       if sid == "dies" else str(tmp_path))  # an existing path: no death
             for sid, src in subs.items()]
    ex = ProcessExecutor(s.assignment, s.reference_dir, 2, sandbox.choose("auto")[0])
    try:
        ex.wait_ready()
        got = {t.submission: r for t, r in ex.run(tasks)}
    finally:
        ex.close()
    assert (tmp_path / "dies.died").exists(), "the job process should have died once"
    assert {sid: (r.score, r.status) for sid, r in got.items()} == {
        "ok": (21, "graded"), "dies": (21, "graded"), "stub": (0, "graded")}


def test_timing_slots_are_the_cores_unless_set(monkeypatch):
    """`--jobs N` times one section per core at once; $DLGRADE_TIMING_SLOTS overrides
    that (1: one at a time), and a value that is not a count is refused by name."""
    from grader.classroom import executors

    monkeypatch.delenv(executors.SLOTS_ENV, raising=False)
    assert executors.timing_slots() == len(os.sched_getaffinity(0))
    monkeypatch.setenv(executors.SLOTS_ENV, " 1 ")
    assert executors.timing_slots() == 1
    for bad in ("0", "two", "-1", "1.5"):
        monkeypatch.setenv(executors.SLOTS_ENV, bad)
        with pytest.raises(ValueError, match=f"DLGRADE_TIMING_SLOTS must be a whole number "
                           f"of 1 or more; got '{bad}'"):
            executors.timing_slots()


def test_a_job_process_imports_no_torch_before_its_fork_server_starts():
    """grader.classroom.jobprocess launches the fork server before it imports torch, so
    the two imports overlap (and executors, which the command line imports to start the
    job processes, imports none either)."""
    code = ("import sys\nfrom grader.classroom import executors, jobprocess\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.stdout.strip() == "False", out.stderr


def test_the_grading_bench_pools_its_passes_and_shows_each_pair(tmp_path):
    """`bench_grading --passes 2` grades a class twice per --jobs setting (ABBA): the
    figure adds the passes up, and the speed-up cell shows each pair's own ratio too."""
    def run(jobs, n, wall):
        return {"n": n, "jobs": jobs, "startup_s": 1.0, "wall_s": wall, "per_sub_s": wall / n,
                "per_min": 60 * n / wall, "mean_execution_time_s": 0.5,
                "status": {"graded": n}, "failed": 0, "report_s": 0.0}

    one = bench_grading.pooled([run(1, 40, 40.0), run(1, 40, 32.0)])
    two = bench_grading.pooled([run(2, 40, 20.0), run(2, 40, 20.0)])
    assert one["per_sub_s"] == pytest.approx(72.0 / 80) and one["passes"] == [1.0, 0.8]
    assert one["status"] == {"graded": 80} and two["n"] == 80
    assert bench_grading.pooled([run(2, 3, 1.5)]) == run(2, 3, 1.5)
    figures = {"date": "2026-12-04 10:00", "machine": "m", "cpus": 2,
               "loadavg_before": (1.0,), "loadavg_after": (1.0,), "n": 40, "passes": 2,
               "import_torch": {"before": {"mean_s": 1.5}, "after": {"mean_s": 1.5},
                                "mean_s": 1.5},
               "assignments": {"rnn": {"tests": 19, "jobs1": one, "jobs2": two,
                                       "check": {"wall_s": 2.0, "exit": 0}}}}
    text = bench_grading.summary(figures)
    assert "graded 2 times each in ABBA order" in text
    assert "| rnn | 19 | 0.90 s (0.60x) | 0.50 s (0.33x) | 1.80x (2.00, 1.60) |" in text
    busy = bench_grading.pooled([dict(run(2, 40, 20.0), busy_cpu_s=38.0),
                                 dict(run(2, 40, 20.0), busy_cpu_s=36.0)])
    assert busy["busy_cpu_s"] == 74.0 and two["busy_cpu_s"] is None
    figures["assignments"]["rnn"]["jobs2"] = busy
    assert "| 0.50 s (0.33x), 1.85 cores busy | 1.80x (2.00, 1.60) |" in \
        bench_grading.summary(figures)
    figures["assignments"]["rnn"]["jobs2"] = two
    figures["assignments"]["rnn"]["side_by_side"] = {"speedup": 1.9}
    text = bench_grading.summary(figures)
    assert "| --jobs 2 speed-up | two Python processes side by side |" in text
    assert "| 1.80x (2.00, 1.60) | 1.90x |" in text
    stem = bench_grading.record(tmp_path / "rec", "grading", "Grading speed", figures, text)
    assert json.loads(stem.with_suffix(".json").read_text()) == json.loads(json.dumps(figures))
    assert stem.with_suffix(".md").read_text() == f"# Grading speed\n\n{text}\n"


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="no /proc/stat here")
def test_busy_cpu_seconds_count_this_process_working():
    before, t0 = bench_grading.busy_cpu_seconds(), time.process_time()
    while time.process_time() - t0 < 0.3:
        pass
    assert bench_grading.busy_cpu_seconds() - before >= 0.2


def test_the_side_by_side_control_times_two_processes_both_ways():
    """The machine's own --jobs 2 ceiling: a figure per way, in ABBA order."""
    got = bench_grading.side_by_side(pairs=2, n=200_000)
    assert len(got["serial_s"]) == len(got["parallel_s"]) == 2
    assert got["speedup"] == pytest.approx(sum(got["serial_s"]) / sum(got["parallel_s"]))
    assert 0.5 < got["speedup"] < 3.0


def test_the_timing_slots_bench_tallies_legitimate_and_naive_ratios(tmp_path):
    """bench_timing: a legitimate solution's ratios and lost points are counted as such; a
    naive one's ratio counts only where the test failed it (a naive MLP loop around a
    vectorized linear layer passes perf_linear by design); untimed functions are skipped."""
    from grader.classroom import bench_timing
    from grader.engine.results import SubmissionResult, TestResult

    def perf(tid, points, ratio):
        return TestResult(id=tid, points=points, max_points=1.0, visibility="hidden",
                          kind="performance", passed=points == 1.0, output="timed\nmore",
                          extra={"functions": [{"fn": "f", "ratio": ratio, "limit": 6.0}]})

    def sub(name, *tests):
        return SubmissionResult(submission=name, assignment="backprop", score=0.0,
                                max_score=2.0, status="graded", reason="", tests=list(tests),
                                seed="0", sandbox="rlimits", execution_time=1.0,
                                spec_digest="")

    got = bench_timing.tally([
        sub("reference-00", perf("perf_linear", 1.0, 1.1), perf("perf_mlp", 1.0, 0.9)),
        sub("correct_einsum-01", perf("perf_linear", 0.0, 7.5), perf("perf_mlp", 1.0, None)),
        sub("naive_mlp_per_sample-00", perf("perf_linear", 1.0, 1.3),
            perf("perf_mlp", 0.0, 40.0))])
    assert got["graded"] == 3
    assert got["tests"]["perf_linear"] == {"limit": 6.0, "legit": [1.1, 7.5], "naive": []}
    assert got["tests"]["perf_mlp"] == {"limit": 6.0, "legit": [0.9], "naive": [40.0]}
    assert got["lost"] == ["correct_einsum-01 perf_linear 0/1: timed"]
    figures = {"assignments": {"backprop": {"cores": got, "one": bench_timing._merge(
        got, got)}}}
    text = bench_timing.table(figures)
    assert "| backprop | perf_mlp | 6 | 1 | 0.90 | 0.90 | 0.90 | 40.0 | 0.90 | 0.90 | 0.90 |" \
        " 40.0 |" in text
    assert "one: 6 submissions graded; points lost by legitimate solutions: 2" in text
    variants = ROOT / "reference" / "backprop" / "variants"
    correct = len(list(variants.glob("correct_*.py")))
    # The reference, each correct variant in turn, then the reference again.
    legit = correct + 2
    subs = bench_timing.fairness_class("backprop", tmp_path / "c", legit=legit, naive=1)
    ids = sorted(s.id for s in subs)
    assert len(ids) == legit + len(list(variants.glob("naive_*.py")))
    assert ids[0].startswith("correct_") and "reference-00" in ids
    assert f"reference-{correct + 1:02d}" in ids
