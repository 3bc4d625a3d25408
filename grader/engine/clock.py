"""The clock of performance tests, and what the kernel says about who was busy.

`Clock` times a call in this (trusted) process: one thread, gc off, TF32 off
(`timing_conditions`); on CUDA with synchronizations, CUDA events as a cross-check and the
L2 flushed before the call. `RunDelay` reads the kernel's per-task accounting
(/proc/<pid>/schedstat, /proc/<pid>/stat) so that a round trip to a worker can be
corrected for the time the machine's load kept either side waiting, never below the CPU
time the worker's process tree used. `TIMING_LOCK` keeps two timed calls of one run from
sharing a core or a GPU (the threads of one process, and the job processes of
`grade --jobs N`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
import time
from collections.abc import Callable

import torch

from grader.boundary import allocator


class TimingLock:
    """Held while a test times anything (`turn`), so that timed sections never share a core
    or a GPU.

    In one process, timed sections take turns (a thread lock: the thread count and gc they
    set are the process's). Processes that `share` the lock files (the job processes of
    `dlgrade grade --jobs N`, the test processes of `make test`) each take a slot:

    - on the CPU, one of `slots` slots, one per core (executors.timing_slots). A timed section
      keeps one core busy: one thread, and the baseline, the probe's round trip and the
      student's call run one after the other, the student's worker stopped while the
      baseline runs. So two of them on two cores share no core, as a timed section beside
      another job's correctness tests shares none. Beyond that many, they take turns.
    - on CUDA, the first slot only: two timed sections on one GPU would share it.
    """

    def __init__(self):
        self._thread = threading.Lock()
        self._fds: list[int] = []

    def share(self, path: str, slots: int = 1) -> None:
        """Take turns, from now on, with every process that shares `path` too: `slots`
        timed sections at once on the CPU (one on CUDA). The first slot is `path` itself,
        the others `path.1`, `path.2`... (every process of a run must pass the same
        `slots`)."""
        if slots < 1:
            raise ValueError(f"a timing lock needs 1 slot or more; got {slots}")
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | \
            getattr(os, "O_NOFOLLOW", 0)
        fds = [os.open(path if i == 0 else f"{path}.{i}", flags, 0o600) for i in range(slots)]
        for fd in self._fds:
            os.close(fd)
        self._fds = fds

    @contextlib.contextmanager
    def turn(self, device: str):
        """Hold a slot (see the class) while timing on `device`."""
        with self._thread:
            fd = self._take(str(device).startswith("cuda"))
            try:
                yield
            finally:
                if fd is not None:
                    import fcntl

                    fcntl.flock(fd, fcntl.LOCK_UN)

    def _take(self, cuda: bool) -> int | None:
        """A free slot's descriptor, locked; blocks on one when none is free."""
        if not self._fds:
            return None
        import fcntl

        fds = self._fds[:1] if cuda else self._fds
        for fd in fds:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                continue
        # Every slot is held: wait for one (spread over the slots, by process).
        fd = fds[os.getpid() % len(fds)]
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd


TIMING_LOCK = TimingLock()
"""The lock every timed call of this process holds (see TimingLock)."""

FLUSH_MB = 256

MAX_DELAY_FRACTION = 0.9
"""Never take more than this share of a round trip away as scheduling delay."""


@contextlib.contextmanager
def timing_conditions(device: str):
    """One thread, gc off, TF32 off: the conditions every timed call in this process gets."""
    threads = torch.get_num_threads()
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        torch.set_num_threads(threads)
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32


class Clock:
    """Times calls in this (trusted) process, the way the worker's `time` op runs them."""

    def __init__(self, device: str, flush_mb: int = FLUSH_MB):
        allocator.settle()  # the heap behaves as in the worker (see that module)
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.own_delay = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        self.flush = (torch.empty(flush_mb * 1024 * 1024 // 4, dtype=torch.float32,
                                  device=self.device) if self.cuda and flush_mb else None)

    def call(self, fn: Callable, args, kwargs) -> tuple[object, int, float | None]:
        """(outputs, wall ns, CUDA-event ms or None) of one call."""
        if self.flush is not None:
            self.flush.zero_()
        if self.cuda:
            torch.cuda.synchronize(self.device)
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
        d0 = _schedstat_delay(self.own_delay)
        t0 = time.perf_counter_ns()
        out = fn(*args, **kwargs)
        if self.cuda:
            end.record()
            torch.cuda.synchronize(self.device)
        ns = time.perf_counter_ns() - t0
        d1 = _schedstat_delay(self.own_delay)
        if d0 is not None and d1 is not None:
            ns -= min(max(0, d1 - d0), int(ns * MAX_DELAY_FRACTION))
        return out, ns, (start.elapsed_time(end) if self.cuda else None)


def _schedstat_delay(path: str) -> int | None:
    """run_delay (ns spent runnable but waiting for a CPU) from a schedstat file."""
    try:
        with open(path) as f:
            return int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None


class Stopper:
    """Holds a worker process still (SIGSTOP) while the trusted side times other things.

    While the baseline and the probe are timed, nothing of the submission may run: a
    signal handler on an interval timer would otherwise let an idle worker compete with
    the probe for the memory bus and make the overhead subtracted from its own time look
    larger. The worker's seccomp filter forbids threads and forks, so stopping its one
    process stops all of it. A pidfd names exactly that process (a pid could be reused
    once it exits); where pidfds are unavailable, nothing is stopped.
    """

    def __init__(self, pid: int | None):
        self.pid = pid
        self.fd: int | None = None
        if pid and hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal"):
            try:
                self.fd = os.pidfd_open(pid)
            except OSError:
                self.fd = None

    def _signal(self, sig) -> bool:
        try:
            signal.pidfd_send_signal(self.fd, sig)
            return True
        except OSError:
            return False  # it exited: its next request reports that

    @contextlib.contextmanager
    def stopped(self):
        """Yields whether the worker is stopped for the block (False: it could not be)."""
        if self.fd is None or not self._signal(signal.SIGSTOP):
            yield False
            return
        try:
            yield _wait_state(self.pid, "Tt", timeout=0.05)
        finally:
            self._signal(signal.SIGCONT)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Stopper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _wait_state(pid: int, states: str, timeout: float) -> bool:
    """Wait (briefly) until /proc says `pid` is in one of `states`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state in states:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.0002)


class RunDelay:
    """Time the kernel kept the worker's main thread (and this thread) waiting for a CPU,
    and the CPU time the worker's whole session used.

    On a loaded machine a round trip to the worker includes waiting to be scheduled, on
    both ends; that is load, not the submission. The kernel's per-task accounting
    (/proc/<pid>/schedstat: run_delay) measures it and cannot be changed from inside the
    worker. Time the worker spends blocked (waiting for a helper it started, say) is not
    run delay, so it still counts. A worker could inflate its main thread's run delay by
    running helpers (threads or processes) beside it, so the time kept is never less than
    the CPU time of the worker's process tree (its threads, its descendants, and the
    children it reaped; a daemon that left the tree is not seen: the sandbox's process
    limits are the defence there). Where /proc is unreadable (another OS) or the worker
    cannot be found in it, nothing is subtracted: the plain wall clock, which load only
    inflates.
    """

    def __init__(self, pid: int | None):
        """`pid`: the worker's pid in this process's namespace (see host_pid)."""
        self.own = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        self.pid = pid

    def read(self) -> tuple[int, int, int]:
        """(this thread's run delay, the worker's main-thread run delay, session CPU ns)."""
        own = _schedstat_delay(self.own) or 0
        if self.pid is None:
            return own, 0, 0
        worker = _schedstat_delay(f"/proc/{self.pid}/schedstat") or 0
        return own, worker, _session_cpu_ns(self.pid)

    @staticmethod
    def between(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int]:
        """(run delay to subtract, CPU time the worker's session used) between reads."""
        return max(0, b[0] - a[0]) + max(0, b[1] - a[1]), max(0, b[2] - a[2])

    @staticmethod
    def busy(wall_ns: int, a, b) -> int:
        """A round trip's wall time less scheduling delay, never less than the CPU used."""
        waited, cpu = RunDelay.between(a, b)
        return max(wall_ns - min(waited, int(wall_ns * MAX_DELAY_FRACTION)), cpu)


_TICK_NS = 10**9 // (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


def _session_cpu_ns(pid: int) -> int:
    """CPU time of the worker and every process below it: each thread's schedstat, plus
    the children each has reaped (cutime + cstime, in clock ticks)."""
    total, todo, seen = 0, [pid], set()
    while todo and len(seen) < 4096:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[13]) + int(fields[14])) * _TICK_NS  # cutime, cstime
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def host_pid(root: int | None, pid: int | None) -> int | None:
    """The worker's pid as this process sees it, or None.

    The fork server reports pids in its own pid namespace (bubblewrap gives it one), so
    the worker is looked up below the fork server's process (`root`, as started here) by
    the last entry of NSpid in /proc/<p>/status: its pid in the innermost namespace.
    """
    if not pid:
        return None
    todo, seen = [root if root else pid], set()
    while todo and len(seen) < 4096:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as f:
                nspid = next((line.split()[1:] for line in f if line.startswith("NSpid:")), [])
            if nspid and int(nspid[-1]) == pid and (len(nspid) > 1 or p == pid):
                return p
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError, IndexError):
            continue
    return None
