"""Grading a class: the loop behind `dlgrade grade`.

Each submission is graded in its own worker; a failure of the student's code of any kind
becomes that submission's result and never stops the run. Results are written per
submission as soon as they are known, atomically, `results.json` last.

Resuming: a rerun into the same folder reuses a submission's `results.json` when it was
written for the same submission id, the same source (digest), the same assignment files
(spec digest and a digest of the reference, tests and fixtures) and the same seed (so the
same secret), and grades everything else; `force=True` regrades all. A results file that
cannot be parsed, or one holding a grader error, is graded again. `grades.csv` and
`report.html` are rebuilt at the end from the results files of the current submissions,
so an interrupted-then-resumed run writes exactly what an uninterrupted one does.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from grader.classroom import intake, report
from grader.classroom.executors import Task
from grader.classroom.outdir import MARKER, check_out_dir, out_dir_assignment
from grader.engine import grading

SUITE_DIGEST_KEY = "suite_digest"
LMS_FORMATS = ("canvas",)


def _write_marker(out_dir: Path, assignment: str) -> None:
    if out_dir_assignment(out_dir) != assignment or not (out_dir / MARKER).is_file():
        report.write_atomic(out_dir / MARKER, json.dumps({"assignment": assignment}) + "\n")


@dataclass
class GradeRun:
    """The outcome of one `grade` invocation."""

    results: list[grading.SubmissionResult]
    """One per submission that has a result, in submission order."""
    out_dir: Path
    graded: int = 0
    """Graded in this run."""
    reused: int = 0
    """Taken from an earlier run's results."""
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(id, why) for submissions the machinery could not grade; no result was written."""
    files: list[Path] = field(default_factory=list)
    """The class-wide files written (grades.csv, report.html, an LMS export)."""


def _kinds(suite: grading.Suite) -> dict[str, str]:
    return {t.id: t.kind for t in suite.assignment.tests}


def reusable(path: Path, suite: grading.Suite, sub: intake.Submission, seed: int,
             meta: dict) -> grading.SubmissionResult | None:
    """An earlier result for exactly this grading job, or None (absent, corrupt, stale)."""
    if not path.is_file():
        return None
    try:
        r, data = report.read_results(path, _kinds(suite))
    except report.ResultsFormatError:
        return None
    a = suite.assignment
    if (r.submission != sub.id or r.assignment != a.name or r.source_digest != sub.digest
            or r.spec_digest != a.digest
            or any(data.get(k) != v for k, v in meta.items())
            or r.seed != f"{seed:016x}"
            or [t.id for t in r.tests] != [t.id for t in a.tests]
            or any(t.output.startswith("grader error") for t in r.tests)):
        return None
    return r


def _remove_stale_temporaries(out_dir: Path, folders: list[str]) -> None:
    """write_atomic's temporary files left by a killed run."""
    for d in [out_dir, *(out_dir / f for f in folders)]:
        if not d.is_dir():
            continue
        for p in d.iterdir():
            if p.name.startswith((".results.json.", ".feedback.txt.", ".grades.csv.",
                                  ".report.html.")) and p.is_file():
                try:
                    p.unlink()
                except OSError:
                    pass


def _progress(total: int, initial: int, enabled: bool | None):
    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, disable=not enabled, unit="sub",
                desc="grading", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def grade_all(suite: grading.Suite, subs: list[intake.Submission], out_dir: Path, *,
              secret: str, device: str, executor=None, zygote=None, force: bool = False,
              timeout: float | None = None, progress: bool | None = None,
              class_report: bool = True, lms: str | None = None) -> GradeRun:
    """Grade `subs` into `out_dir` with `executor` (default: a LocalExecutor with one job
    on `zygote`). `progress`: None = a bar when stderr is a terminal. `lms`: also write
    that learning-management system's gradebook (LMS_FORMATS). Raises OutDirError for a
    folder check_out_dir refuses (`force` overrides another assignment's folder)."""
    check_out_dir(Path(out_dir), suite.assignment.name, force)
    if lms is not None and lms not in LMS_FORMATS:
        raise ValueError(f"lms: expected one of {', '.join(LMS_FORMATS)}, got {lms!r}")
    from grader.classroom.executors import LocalExecutor

    own = executor is None
    if own:
        executor = LocalExecutor(suite, 1, zygote=zygote)
    try:
        return _grade_all(suite, subs, Path(out_dir), secret=secret, device=device,
                          executor=executor, force=force, timeout=timeout,
                          progress=progress, class_report=class_report, lms=lms)
    finally:
        if own:
            executor.close()


def _wait_for_workers(executor, bar) -> None:
    """Let the bar tick while the fork server starts (it imports torch: seconds), instead
    of sitting still at 0 as if nothing happened."""
    ready = getattr(executor, "wait_ready", None)
    if ready is None or bar.disable:
        return
    bar.set_description("starting workers")
    done = threading.Event()

    def tick():
        while not done.wait(0.25):
            bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        ready()
    finally:
        done.set()
        ticker.join()
        bar.set_description("grading")


def _grade_all(suite, subs, out_dir: Path, *, secret, device, executor, force, timeout,
               progress, class_report, lms=None) -> GradeRun:
    a = suite.assignment
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_marker(out_dir, a.name)
    folders = intake.safe_names([s.id for s in subs])
    _remove_stale_temporaries(out_dir, list(folders.values()))
    sdigest = grading.suite_digest(suite)
    # What else decides a result; a rerun reuses a result only when all of it matches.
    meta = {SUITE_DIGEST_KEY: sdigest, "device": device, "call_timeout": timeout}
    run = GradeRun([], out_dir)
    seeds = {s.id: grading.submission_seed(secret, a.name, s.id) for s in subs}
    todo: list[Task] = []
    bar = None
    try:
        for s in subs:
            if not force and reusable(out_dir / folders[s.id] / "results.json", suite, s,
                                      seeds[s.id], meta) is not None:
                run.reused += 1
            elif s.source is None:
                r = grading.error_result(suite, s.id, s.error or "", seed=seeds[s.id],
                                         sandbox_name=executor.sandbox_name,
                                         source_digest=s.digest)
                if _write(out_dir, folders[s.id], r, a.title, meta, suite, run, None):
                    run.graded += 1
            else:
                todo.append(Task(a.name, s.id, s.source, seeds[s.id], device, s.digest,
                                 a.digest, sdigest, timeout))
        bar = _progress(len(subs), len(subs) - len(todo), progress)
        if todo:
            _wait_for_workers(executor, bar)
        for task, outcome in executor.run(todo):
            if isinstance(outcome, BaseException):
                # The machinery failed (a lost Dask worker, a fork server that died): the
                # submission gets an error row saying so, which a rerun grades again.
                why = f"{type(outcome).__name__}: {outcome}"
                run.failed.append((task.submission, why))
                bar.write(f"error: {task.submission}: not graded ({why}); rerun to retry",
                          file=sys.stderr)
                outcome = grading.error_result(
                    suite, task.submission, f"{grading.GRADER_ERROR}: {why[:500]}; grade it "
                    "again", seed=task.seed, sandbox_name=executor.sandbox_name,
                    source_digest=task.source_digest)
            elif outcome.status == grading.STATUS_ERROR and \
                    outcome.reason.startswith(grading.GRADER_ERROR):
                run.failed.append((task.submission, outcome.reason))
            if _write(out_dir, folders[task.submission], outcome, a.title, meta, suite, run,
                      bar):
                run.graded += 1
            bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    # The gradebook comes from the files, whichever run wrote them.
    for s in subs:
        path = out_dir / folders[s.id] / "results.json"
        if path.is_file():
            try:
                run.results.append(report.read_results(path, _kinds(suite))[0])
            except report.ResultsFormatError as e:
                run.failed.append((s.id, f"unreadable results: {e}"))
    test_ids = [t.id for t in a.tests]
    members = {s.id: s.members for s in subs if s.members}
    report.write_atomic(out_dir / "grades.csv",
                        report.grades_csv(run.results, test_ids, folders, members))
    run.files.append(out_dir / "grades.csv")
    if class_report:
        from grader.classroom import classreport

        try:
            report.write_atomic(out_dir / "report.html",
                                classreport.html_report(a, run.results, folders))
            run.files.append(out_dir / "report.html")
        except Exception as e:  # noqa: BLE001 - the gradebook is written; say what is not
            print(f"warning: report.html not written: {type(e).__name__}: {e}",
                  file=sys.stderr)
    if lms == "canvas":
        report.write_atomic(out_dir / "canvas.csv",
                            report.canvas_csv(run.results, a.name, a.max_score, members))
        run.files.append(out_dir / "canvas.csv")
    return run


def _write(out_dir: Path, folder: str, r: grading.SubmissionResult, title: str, meta: dict,
           suite: grading.Suite, run: GradeRun, bar) -> bool:
    """Write one submission's files; if that fails (a result the writers choke on), write
    an error result saying why instead, so the class still gets its row. False when even
    that could not be written (the submission is then listed in run.failed)."""
    try:
        report.write_submission(out_dir, folder, r, title, meta)
        return True
    except Exception as e:  # noqa: BLE001 - one submission's files never stop the class
        why = f"{type(e).__name__}: {str(e)[:300]}"
    try:
        err = grading.error_result(
            suite, r.submission, f"{grading.GRADER_ERROR}: its results could not be written "
            f"({why}); grade it again", seed=int(r.seed, 16), sandbox_name=r.sandbox,
            source_digest=r.source_digest)
        report.write_submission(out_dir, folder, err, title, meta)
    except Exception as e:  # noqa: BLE001
        why = f"{why}; then {type(e).__name__}: {str(e)[:300]}"
    run.failed.append((r.submission, f"results not written: {why}"))
    msg = f"error: {r.submission}: results not written ({why}); rerun to retry"
    if bar is not None:
        bar.write(msg, file=sys.stderr)
    else:
        print(msg, file=sys.stderr)
    return False
