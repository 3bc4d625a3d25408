"""Grading one submission: run the spec's tests against a worker and score them.

Pure orchestration on the trusted side: the worker session (grader.boundary.session) runs the
student's code, the tests (grader.engine.testing) decide pass/fail per case, and this module
turns cases into points, statuses and messages.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import importlib
import importlib.util
import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

from grader.boundary.session import WorkerSession, Zygote
from grader.engine import forbidden, sources, syntax, testing
from grader.engine.results import (
    PRINTED_HEADER,
    STATUS_ERROR,
    STATUS_GRADED,
    STATUS_TIMEOUT,
    SubmissionResult,
    TestResult,
    zero_result,
)
from grader.engine.spec import Assignment, SpecError, TestSpec


@dataclass
class Suite:
    """What grading an assignment needs on the trusted side, loaded once per run."""

    assignment: Assignment
    reference: object | None
    """The reference module (None on a student's machine)."""
    hidden_tests: object | None
    public_tests: object | None
    signatures: dict[str, list[str]]
    reference_dir: Path | None = None

    def fixture(self, test: TestSpec) -> Path:
        return self.assignment.directory / "fixtures" / f"{test.id}.npz"


def load_module(path: Path, name: str):
    """Import a trusted file (reference, tests) by path, under a private module name."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_suite(assignment: Assignment, reference_dir: Path | None) -> Suite:
    # The trusted side runs small reference calls and comparisons, alternating with the
    # workers: one intra-op thread is fastest here (two threads on a busy 2-core machine
    # measured 8x slower) and keeps baseline timings comparable with the workers'.
    torch.set_num_threads(1)
    d = assignment.directory
    public = (load_module(d / "public_tests.py", f"_dlgrade_public_{assignment.name}")
              if (d / "public_tests.py").exists() else None)
    reference = hidden = None
    if reference_dir is not None and (reference_dir / f"{assignment.module}.py").exists():
        reference = load_module(reference_dir / f"{assignment.module}.py",
                                f"_dlgrade_reference_{assignment.name}")
        hidden_path = reference_dir / "hidden_tests.py"
        if hidden_path.exists():
            hidden = load_module(hidden_path, f"_dlgrade_hidden_{assignment.name}")
    for test in assignment.tests:
        module = hidden if test.visibility == "hidden" else public
        if module is not None:
            try:
                testing.test_function(module, test.id)
            except AttributeError as e:
                raise SpecError(f"{e} (assignment.yaml lists test {test.id})") from None
    sigs = testing.stub_signatures(d / f"{assignment.module}.py")
    return Suite(assignment, reference, hidden, public, sigs, reference_dir)


def _case_summary(ctx: testing.TestContext, hidden: bool) -> tuple[int, int, str, bool]:
    cases = ctx.cases
    passed = sum(c.passed for c in cases)
    failures = [c for c in cases if not c.passed]
    if not failures:
        return passed, len(cases), f"passed ({passed}/{len(cases)} cases)", False
    if all(c.failure.kind == "not_attempted" for c in failures) and passed == 0:
        return 0, len(cases), "not attempted", True
    lines = [f"{passed}/{len(cases)} cases passed"]
    shown = 0
    for c in failures:
        if c.failure.kind == "skipped":
            continue
        if shown == 4:
            lines.append(f"  ... and {len(failures) - shown} more")
            break
        lines.append(f"  {c.label}: {c.failure.message(hidden)}")
        shown += 1
    return passed, len(cases), "\n".join(lines), False


def run_test(suite: Suite, test: TestSpec, session: WorkerSession, *, seed: int,
             device: str, static_uses: dict[str, list[forbidden.Use]],
             source_mode: str = "auto", perf_settings=None,
             shared_rounds: dict | None = None) -> TestResult:
    """Run one test. `source_mode`: "auto" (public: replay fixtures, hidden: live),
    "live" (both live; needs the reference) or "record" (live, keeping a Recorder).
    Performance tests always draw live (they have no fixtures); `perf_settings`
    (grader.engine.perf.PerfSettings) adjusts them, e.g. for calibration.
    `shared_rounds`: one dict per submission, through which its performance tests that
    time the same function at the same sizes share the student's timed rounds
    (grader.engine.rounds.SharedRounds); None: each times on its own."""
    hidden = test.visibility == "hidden"
    base = dict(id=test.id, max_points=test.points, visibility=test.visibility, kind=test.kind,
                description=test.description)
    bad = [(fn, u) for fn in test.functions for u in static_uses.get(fn, [])]
    if bad:
        fn, use = bad[0]
        msg = f"{fn} uses the forbidden {use}: this test scores 0"
        return TestResult(points=0.0, passed=False, output=msg, **base)
    module = suite.hidden_tests if hidden else suite.public_tests
    if module is None:
        where = "reference/hidden_tests.py" if hidden else "public_tests.py"
        raise FileNotFoundError(f"{suite.assignment.name}: no {where} for test {test.id}")
    test_fn = testing.test_function(module, test.id)
    test_seed = sources.derive_seed(str(seed), test.id)
    if test.kind == "performance":
        source = sources.LiveSource(test_seed, suite.reference)
    elif source_mode == "auto" and not hidden:
        source = sources.Replay(suite.fixture(test))
    elif source_mode == "record":
        source = sources.Recorder(test_seed, suite.reference)
    else:
        source = sources.LiveSource(test_seed, suite.reference)
    ctx = testing.TestContext(suite.assignment, test, session, source, suite.signatures, device)
    if perf_settings is not None:
        ctx.perf_settings = perf_settings
    if shared_rounds is not None:
        ctx.shared_rounds = shared_rounds
    try:
        test_fn(ctx)
    except sources.FixtureError as e:
        return TestResult(points=0.0, passed=False, output=f"grader error: {e}", **base)
    passed, total, output, not_attempted = _case_summary(ctx, hidden)
    points = test.points * passed / total if total else 0.0
    if ctx.forbidden_used:
        points = 0.0
        ops = ", ".join(sorted(set(ctx.forbidden_used)))  # aten.X or torch.X
        output = f"used the forbidden op {ops}: this test scores 0\n" + output
    result = TestResult(points=round(points, 6), passed=total > 0 and passed == total,
                        output=output, cases_passed=passed, cases_total=total,
                        not_attempted=not_attempted, **base)
    if test.kind == "performance":
        from grader.engine import perf

        figures, lines = perf.summarize(ctx)
        result.extra.update(figures)
        if result.passed and lines:
            result.output = "\n".join(["passed", *("  " + line for line in lines)])
    if not hidden and not not_attempted:
        # What the student's own code printed, for public tests only: in a hidden test it
        # could carry the hidden inputs out.
        shown = printed_section(ctx.calls)
        if shown:
            result.output = f"{result.output}\n{shown}"
    result.extra["context"] = ctx  # removed before anything is written
    return result


PRINTED_LINES = 10


def printed_section(calls) -> str:
    """The first PRINTED_LINES lines the student's functions printed during a test (each
    call's "printed" text, see grader.boundary.worker), or "" when they printed nothing."""
    text = "".join(c.extra.get("printed", "") for c in calls
                   if isinstance(c.extra.get("printed"), str))
    lines = text.splitlines()
    if not lines:
        return ""
    shown = [line[:200] for line in lines[:PRINTED_LINES]]
    more = len(lines) - len(shown)
    tail = [f"  | ... ({more} more lines)"] if more > 0 else []
    return "\n".join([f"{PRINTED_HEADER} (first lines):", *("  | " + x for x in shown), *tail])


LAZY_IMPORTS = {r"\boptim\.[A-Z]\w*\(": "torch._dynamo"}
"""What a test or reference file may do (a pattern of its text) -> the module that first
imports: constructing a torch.optim optimizer imports torch._dynamo (2.9 CPU-s). (Its
functional form, torch.optim.adam.adam, does not; neither does a docstring naming one.)"""


def lazy_imports(texts: list[str]) -> list[str]:
    """The modules (not yet imported) that trusted files with these texts will import
    lazily on first use."""
    return [mod for pattern, mod in LAZY_IMPORTS.items()
            if mod not in sys.modules and any(re.search(pattern, text) for text in texts)]


def warm_up(suite: Suite) -> threading.Thread | None:
    """Start importing, in a thread, what the suite's trusted files will import lazily on
    first use (`lazy_imports`), once per suite; None when there is nothing (left) to do."""
    if getattr(suite, "_warmed", False):
        return None
    suite._warmed = True
    texts = []
    for module in (suite.public_tests, suite.hidden_tests, suite.reference):
        path = getattr(module, "__file__", None)
        if path:
            try:
                texts.append(Path(path).read_text(encoding="utf-8"))
            except OSError:
                pass
    wanted = lazy_imports(texts)
    if not wanted:
        return None
    def run():
        with syntax.LOCK:  # torch parses its own sources as it imports (see syntax)
            for m in wanted:
                importlib.import_module(m)

    thread = threading.Thread(target=run, name="dlgrade-warm-up", daemon=True)
    thread.start()
    return thread


def prepare(suite: Suite, zygote: Zygote | None = None) -> None:
    """What the first submission would otherwise do on its clock, done while an executor
    starts: import what the suite's trusted files import lazily (`warm_up`: adam's
    torch.optim baseline imports torch._dynamo, 2.9 CPU-s, in every job process), meanwhile
    wait for the fork server, then freeze what is loaded (`_freeze_imports`)."""
    warming = warm_up(suite)
    if zygote is not None:
        zygote.wait_ready()
    if warming is not None:
        warming.join()
    _freeze_imports()


_frozen = threading.Event()


def _freeze_imports() -> None:
    """Once per process, before the first submission: what is loaded by now (torch, the
    grader, the suite) lives as long as the process, so the collector stops walking it.
    A full collection over it took 67-100 ms here, a few times per adam submission (its
    trajectories make many objects). Later objects are collected as before."""
    if not _frozen.is_set():
        _frozen.set()
        gc.freeze()


def submission_seed(secret: str, assignment: str, submission_id: str) -> int:
    """The seed a submission's hidden inputs come from: the secret, the assignment and the
    submission id together, so two students get different inputs and a regrade the same."""
    return sources.derive_seed(secret, assignment, submission_id)


def suite_digest(suite: Suite) -> str:
    """A digest of every file that decides a grade besides the submission: the spec, the
    stub, the public tests and fixtures, the reference and the hidden tests."""
    a = suite.assignment
    files = []
    for base in (a.directory, suite.reference_dir):
        if base is None or not base.is_dir():
            continue
        for p in sorted(base.rglob("*")):
            rel = p.relative_to(base)
            if (p.is_file() and "__pycache__" not in rel.parts and "mutants" not in rel.parts
                    and "variants" not in rel.parts and p.suffix in (".py", ".yaml", ".npz")):
                files.append((f"{base.name}/{rel.as_posix()}", p))
    h = hashlib.sha256()
    for name, p in files:
        h.update(name.encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


def error_result(suite: Suite, submission_id: str, reason: str, *, seed: int,
                 sandbox_name: str, source_digest: str = "",
                 status: str = STATUS_ERROR) -> SubmissionResult:
    """Zero on every test, with the reason: a submission that could not be read."""
    a = suite.assignment
    return SubmissionResult(
        submission=submission_id, assignment=a.name, score=0.0, max_score=a.max_score,
        status=status, reason=reason, tests=[zero_result(t, reason) for t in a.tests],
        seed=f"{seed:016x}", sandbox=sandbox_name, execution_time=0.0, spec_digest=a.digest,
        source_digest=source_digest)


def grade_submission(suite: Suite, submission_id: str, source: str | None, *,
                     zygote: Zygote, seed: int | None = None, secret: str | None = None,
                     device: str = "cpu", timeout: float | None = None,
                     error: str | None = None, source_digest: str = "",
                     visibilities=("public", "hidden"), time_budget: float = 600.0,
                     source_mode: str = "auto", uid: int | None = None,
                     test_ids=None) -> SubmissionResult:
    """Grade one submission: the one way every caller (bulk grading, Dask workers, the
    Gradescope autograder, release verification, `check`) scores a student's file.

    `source` is the module's text, or None when the submission could not be read (then
    `error` says why and every test scores 0). The hidden inputs come from `seed`, or from
    `secret` and the submission id (`submission_seed`). `timeout` overrides every test's
    per-call limit (seconds); the import of the submission gets three times that. Never
    raises for anything the student did. `test_ids` restricts grading to those tests (a
    notebook's check of one public test).
    """
    if seed is None:
        seed = submission_seed(secret or "", suite.assignment.name, submission_id)
    sandbox_name = zygote.sandbox.name
    if source is None:
        return error_result(suite, submission_id, error or "no source", seed=seed,
                            sandbox_name=sandbox_name, source_digest=source_digest)
    a = suite.assignment
    # The fork server boots while the caller loads the suite; its boot is not this
    # submission's time. (A fork server that never starts raises here: a machinery fault.)
    # What the baselines import lazily is imported meanwhile, once per run, and finished
    # before any clock starts (a background import would disturb the timing).
    prepare(suite, zygote)
    start = time.monotonic()
    load_timeout = 3 * timeout if timeout else 30.0
    tests = [t for t in a.tests if t.visibility in visibilities
             and (test_ids is None or t.id in test_ids)]
    if timeout is not None:
        tests = [dataclasses.replace(t, timeout=timeout) for t in tests]
    max_score = sum(t.points for t in tests)

    def finish(results, status, reason):
        for r in results:
            r.extra.pop("context", None)
        score = round(sum(r.points for r in results), 6)
        return SubmissionResult(
            submission=submission_id, assignment=a.name, score=score, max_score=max_score,
            status=status, reason=reason, tests=results, seed=f"{seed:016x}",
            sandbox=sandbox_name, execution_time=round(time.monotonic() - start, 3),
            spec_digest=a.digest, source_digest=source_digest)

    def all_zero(reason: str, status: str):
        return finish([zero_result(t, reason) for t in tests], status, reason)

    try:
        static_uses = forbidden.scan(source, a.forbidden_python, a.forbidden_aten)
    except SyntaxError as e:
        return all_zero(f"syntax error in {a.module}.py line {e.lineno}: {e.msg}", STATUS_ERROR)
    except (ValueError, RecursionError, MemoryError) as e:
        # Deeply nested expressions exhaust the parser (MemoryError, RecursionError).
        return all_zero(f"{a.module}.py cannot be parsed: {type(e).__name__}: "
                        f"{str(e)[:200]}", STATUS_ERROR)

    missing = {fn for fn in a.functions if fn not in suite.signatures}
    if missing:
        # A student's folder without the stub (a notebook alone): parameter names, which
        # are part of the API, come from the submission's own definitions.
        own = testing.source_signatures(source)
        suite = dataclasses.replace(
            suite, signatures={**{fn: own[fn] for fn in missing if fn in own},
                               **suite.signatures})
    try:
        return _grade_in_worker(suite, tests, zygote, source, seed=seed, device=device,
                                uid=uid, load_timeout=load_timeout, start=start,
                                time_budget=time_budget, static_uses=static_uses,
                                source_mode=source_mode, finish=finish, all_zero=all_zero)
    except Exception as e:  # noqa: BLE001 - the machinery failed: error, regraded on rerun
        detail = "".join(traceback.format_exception_only(type(e), e)).strip()
        return all_zero(f"{GRADER_ERROR}: {detail[:500]}; grade it again", STATUS_ERROR)


GRADER_ERROR = "grader error"
"""How the reason of a result the grading machinery could not finish starts: such a
result has status error and is graded again by a rerun (grader.classroom.bulk)."""


def _grade_in_worker(suite: Suite, tests, zygote: Zygote, source: str, *, seed: int,
                     device: str, uid, load_timeout: float, start: float,
                     time_budget: float, static_uses, source_mode: str, finish, all_zero):
    """Import the submission in a worker and run `tests`. A failure of the grading
    machinery partway (a fork server that died, a bug in a test) raises: a partial score
    must never be recorded as graded."""
    a = suite.assignment
    with WorkerSession(zygote, a.module, source, device=device, uid=uid,
                       load_timeout=load_timeout) as session:
        err = session.ensure()
        if err is not None:
            if err.type == "Timeout":
                return all_zero(f"importing {a.module}.py did not finish within "
                                f"{session.load_timeout:g} s", STATUS_TIMEOUT)
            if err.type == "WorkerDied":
                return all_zero(f"importing {a.module}.py ended the worker: {err.message}",
                                STATUS_ERROR)
            tb = err.traceback.strip().splitlines()
            last = tb[-1] if tb else f"{err.type}: {err.message}"
            return all_zero(f"importing {a.module}.py failed: {last}", STATUS_ERROR)
        results = []
        status, reason = STATUS_GRADED, ""
        shared_rounds: dict = {}
        for test in tests:
            if session.tampered:
                break  # the verdict below replaces every score: stop spending time on it
            if time.monotonic() - start > time_budget:
                status = STATUS_TIMEOUT
                reason = f"the submission used up its time budget of {time_budget:g} s"
                results.append(zero_result(test, reason))
                continue
            results.append(run_test(suite, test, session, seed=seed, device=device,
                                    static_uses=static_uses, source_mode=source_mode,
                                    shared_rounds=shared_rounds))
        if session.tampered:
            # A record was missing or a canary call's record was false: no result of this
            # worker can be believed, the correct-looking ones included.
            return all_zero(session.tampered, STATUS_GRADED)
    return finish(results, status, reason)
