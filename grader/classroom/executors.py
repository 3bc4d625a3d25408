"""Where submissions are graded: beside one warm fork server (one job), in job processes
with a fork server each (`--jobs N`), or on a Dask cluster.

An executor takes `Task`s and yields `(task, SubmissionResult or exception)` in the order
they finish. An exception is a fault of the grading machinery (a fork server that died, a
lost Dask worker, a worker with another version of the assignment), never of the student:
the caller writes no result for it, so a rerun grades that submission again.

The Dask executor ships plain values (the assignment name, the source text, the id, the
per-submission seed, the device) and gets plain JSON-able dicts back; each Dask worker
process loads the assignment and starts its own fork server once, then reuses them. The
secret itself never leaves the client: only the seed derived from it for that submission.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import dataclasses
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.engine import grading

EXECUTORS = ("local", "dask")


@dataclass(frozen=True)
class Task:
    """One submission to grade, as plain values."""

    assignment: str
    submission: str
    source: str
    seed: int
    device: str
    source_digest: str
    spec_digest: str
    suite_digest: str
    timeout: float | None = None
    """Per-call limit overriding the spec's (--timeout); imports get 3x."""

    def grade(self, suite: grading.Suite, zygote) -> grading.SubmissionResult:
        from grader.engine import grading

        return grading.grade_submission(suite, self.submission, self.source, zygote=zygote,
                                        seed=self.seed, device=self.device,
                                        timeout=self.timeout,
                                        source_digest=self.source_digest)


class VersionMismatch(RuntimeError):
    """A Dask worker holds another version of the assignment than the client."""


def result_to_dict(r: grading.SubmissionResult) -> dict:
    return dataclasses.asdict(r)


def result_from_dict(d: dict) -> grading.SubmissionResult:
    from grader.engine import grading

    d = dict(d)
    d["tests"] = [grading.TestResult(**t) for t in d["tests"]]
    return grading.SubmissionResult(**d)


# ---------------------------------------------------------------------------- local
class LocalExecutor:
    """`jobs` submissions at a time in threads, each in its own forked worker.

    The trusted side's Python (tests, comparisons) holds the GIL, torch ops release it;
    the student's code runs in separate processes. One fork server serves every thread.
    """

    def __init__(self, suite: grading.Suite, jobs: int = 1, zygote=None):
        from grader.boundary.session import Zygote

        self.suite, self.jobs = suite, max(1, jobs)
        self._own = zygote is None
        self.zygote = zygote or Zygote()
        self._lock = threading.Lock()

    @property
    def sandbox_name(self) -> str:
        return self.zygote.sandbox.name

    def warning(self) -> str | None:
        return self.zygote.sandbox.warning()

    def _live_zygote(self):
        """The fork server, restarted once per death (spawn.revived)."""
        from grader.boundary import spawn

        with self._lock:
            self.zygote = spawn.revived(self.zygote)
            return self.zygote

    def _grade(self, task: Task) -> grading.SubmissionResult:
        return task.grade(self.suite, self._live_zygote())

    def wait_ready(self) -> None:
        """Block until the fork server is up and the suite's lazy imports are done
        (grading.prepare; a failure shows on the first task)."""
        from grader.engine import grading

        try:
            grading.prepare(self.suite, self._live_zygote())
        except Exception:  # noqa: BLE001 - reported per submission by run()
            pass

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, object]]:
        tasks = list(tasks)
        if self.jobs == 1:
            for t in tasks:
                try:
                    yield t, self._grade(t)
                except Exception as e:  # noqa: BLE001 - reported per submission
                    yield t, e
            return
        with cf.ThreadPoolExecutor(self.jobs, thread_name_prefix="dlgrade") as pool:
            futures = {pool.submit(self._grade, t): t for t in tasks}
            try:
                for f in cf.as_completed(futures):
                    exc = f.exception()
                    yield futures[f], (exc if exc is not None else f.result())
            finally:
                for f in futures:
                    f.cancel()

    def close(self) -> None:
        if self._own:
            self.zygote.close()


# ---------------------------------------------------------------------------- timing slots
SLOTS_ENV = "DLGRADE_TIMING_SLOTS"


def timing_slots() -> int:
    """How many job processes on this machine may time at once on the CPU
    (grader.engine.clock.TimingLock): one per core this process may use, or
    $DLGRADE_TIMING_SLOTS (1: one at a time, as before 2026-12-03)."""
    raw = os.environ.get(SLOTS_ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"${SLOTS_ENV} must be a whole number of 1 or more; got {raw!r}")
        return int(raw)
    return usable_cores()


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS has no affinity call
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------- local, N processes
class ProcessExecutor:
    """`jobs` job processes (grader.classroom.jobprocess), each grading one submission at a
    time beside its own fork server: `dlgrade grade --jobs N` for N > 1, so that N jobs
    use N cores (threads share one GIL). Timing shares lock files across them: as many
    time at once as there are cores (timing_slots), one on CUDA.

    A job process that dies breaks the pool: a new one is started and the submissions not
    yet finished are graded again (a few times at most; then each is reported as a
    machinery failure, which a rerun grades again).
    """

    RESTARTS = 3

    def __init__(self, assignment, reference_dir, jobs: int, sandbox,
                 slots: int | None = None):
        """Starts the job processes at once (this module imports no torch: they boot while
        the caller imports it). `slots`: how many may time at once on the CPU (default
        timing_slots())."""
        self.jobs, self.sandbox = max(1, jobs), sandbox
        self.sandbox_name = sandbox.name
        self._dir = tempfile.mkdtemp(prefix="dlgrade-run-")
        self._args = (assignment, reference_dir, sandbox,
                      os.path.join(self._dir, "timing.lock"),
                      timing_slots() if slots is None else slots)
        self._pool = self._new_pool()
        self._started = self._start()

    def _start(self) -> list:
        from grader.classroom import jobprocess

        # The pool starts a process per task submitted while none is idle: one each.
        return [self._pool.submit(jobprocess.ready) for _ in range(self.jobs)]

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        import multiprocessing

        from grader.classroom import jobprocess

        # spawn, not fork: this process has imported torch and runs threads.
        return cf.ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=jobprocess.start, initargs=self._args)

    def warning(self) -> str | None:
        return self.sandbox.warning()

    def wait_ready(self) -> None:
        """Block until the job processes are up (their fork servers booted, the suite
        loaded); a failure shows on the first task."""
        try:
            for f in self._started:
                f.result()
        except Exception:  # noqa: BLE001 - reported per submission by run()
            pass

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, object]]:
        from concurrent.futures.process import BrokenProcessPool

        from grader.classroom import jobprocess

        todo = list(tasks)
        for attempt in range(self.RESTARTS + 1):
            futures = {self._pool.submit(jobprocess.grade, t): t for t in todo}
            todo = []
            try:
                for f in cf.as_completed(futures):
                    exc = f.exception()
                    if isinstance(exc, BrokenProcessPool) and attempt < self.RESTARTS:
                        todo.append(futures[f])  # its job process died: grade it again
                    else:
                        yield futures[f], (exc if exc is not None else
                                           result_from_dict(f.result()))
            finally:
                for f in futures:
                    f.cancel()
            if not todo:
                return
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = self._new_pool()
            self._started = self._start()

    def close(self) -> None:
        import shutil

        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._dir, ignore_errors=True)


# ---------------------------------------------------------------------------- dask
_worker_state: dict = {}
_worker_lock = threading.Lock()


def _close_worker_state() -> None:
    z = _worker_state.pop("zygote", None)
    if z is not None:
        z.close()


def _worker_suite_and_zygote(assignment: str):
    """Per worker process: the loaded assignment and a warm fork server, made once."""
    from grader.boundary import sandbox
    from grader.boundary.session import Zygote
    from grader.engine import assignments, grading

    with _worker_lock:
        suites = _worker_state.setdefault("suites", {})
        if assignment not in suites:
            a = assignments.load(assignment)
            suites[assignment] = grading.load_suite(a, assignments.reference_dir(assignment))
        if not _worker_state.get("lock"):
            # Dask workers on one machine share timing slots, as job processes do: lock
            # files per machine and user.
            from grader.engine import clock

            clock.TIMING_LOCK.share(os.path.join(
                tempfile.gettempdir(), f"dlgrade-timing-{os.getuid()}.lock"), timing_slots())
            _worker_state["lock"] = True
        z = _worker_state.get("zygote")
        if z is None or z.proc.poll() is not None:
            # Each Dask worker machine sandboxes as well as it can (bwrap where it works).
            z = _worker_state["zygote"] = Zygote(sandbox.choose("auto")[0])
            if not _worker_state.get("atexit"):
                atexit.register(_close_worker_state)
                _worker_state["atexit"] = True
        return suites[assignment], z


def grade_task(task: Task) -> dict:
    """Run on a Dask worker: grade one submission, return a plain dict."""
    from grader.engine import grading

    suite, zygote = _worker_suite_and_zygote(task.assignment)
    if suite.reference is None:
        raise VersionMismatch(f"this worker has no reference solution for {task.assignment}")
    mine = grading.suite_digest(suite)
    if suite.assignment.digest != task.spec_digest or mine != task.suite_digest:
        raise VersionMismatch(
            f"this worker's copy of {task.assignment} differs from the client's (spec "
            f"{suite.assignment.digest} vs {task.spec_digest}, files {mine} vs "
            f"{task.suite_digest}): install the same version on every machine")
    return result_to_dict(task.grade(suite, zygote))


class DaskExecutor:
    """Each submission is one Dask task; the client keeps every file write to itself."""

    def __init__(self, scheduler: str | None = None, jobs: int = 1, *,
                 processes: bool = True):
        try:
            from distributed import Client, LocalCluster
        except ImportError as e:  # pragma: no cover - depends on the install
            raise RuntimeError("--executor dask needs dask.distributed: "
                               "pip install 'dlgrade[dask]'") from e
        self.cluster = None
        if scheduler:
            self.client = Client(scheduler, timeout="30s")
        else:
            self.cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1,
                                        processes=processes, dashboard_address=None)
            self.client = Client(self.cluster)
        self.sandbox_name = "dask"

    def warning(self) -> str | None:
        return None

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, object]]:
        from distributed import as_completed

        tasks = list(tasks)
        if not tasks:
            return
        futures = {}
        for t in tasks:
            f = self.client.submit(grade_task, t, pure=False)
            futures[f] = t
        try:
            for f in as_completed(list(futures)):
                t = futures[f]
                try:
                    yield t, result_from_dict(f.result())
                except Exception as e:  # noqa: BLE001 - reported per submission
                    yield t, e
                f.release()
        finally:
            for f in futures:
                f.cancel()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
