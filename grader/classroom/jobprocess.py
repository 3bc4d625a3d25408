"""One job process of `dlgrade grade --jobs N` (grader.classroom.executors.ProcessExecutor).

Each process grades one submission at a time beside a fork server of its own, so that N
jobs use N cores. Threads of one process shared its GIL, and the trusted side's Python
(drawing inputs, comparing, framing) is about half of each submission's CPU: `--jobs 2` in
threads measured 1.2-1.4x `--jobs 1`. Timing shares lock files with the other processes of
the run (grader.engine.clock.TIMING_LOCK): one timed section per core on the CPU, one in
all on CUDA.

Nothing here imports torch at module level: the fork server is launched first, so that
its import of torch overlaps this process's.
"""

from __future__ import annotations

_state: dict = {}


def start(assignment, reference_dir, sandbox, lock_path: str, slots: int) -> None:
    """The pool's initializer: a fork server, the shared timing lock, the suite."""
    import multiprocessing.util

    from grader.boundary import spawn

    zygote = spawn.start(sandbox)
    _state["zygote"] = zygote
    multiprocessing.util.Finalize(None, stop, exitpriority=10)
    from grader.engine import clock, grading

    clock.TIMING_LOCK.share(lock_path, slots)
    _state["suite"] = grading.load_suite(assignment, reference_dir)
    grading.prepare(_state["suite"], zygote)


def stop() -> None:
    zygote = _state.pop("zygote", None)
    if zygote is not None:
        zygote.close()


def _live_zygote():
    """The fork server, restarted once per death (spawn.revived)."""
    from grader.boundary import spawn

    _state["zygote"] = spawn.revived(_state["zygote"])
    return _state["zygote"]


def grade(task) -> dict:
    """Grade one submission (an executors.Task); its result as a plain dict
    (executors.result_from_dict reads it)."""
    import dataclasses

    return dataclasses.asdict(task.grade(_state["suite"], _live_zygote()))


def ready() -> bool:
    """Runs in a job process once its initializer has finished: all of it is up."""
    return "suite" in _state
