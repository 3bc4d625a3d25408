"""The zygote: a warm fork server for workers.

Started fresh (exec, clean environment) by the trusted side, so it holds no secret: no
seed, no reference, no expected values. It imports torch once (1.5 s) and then forks a
worker per request (tens of ms). Each worker gets a new socket pair and an output pipe;
their trusted ends travel back over the control socket with SCM_RIGHTS.

Control requests (grader.boundary.wire messages): spawn, kill, status, bye.
"""

from __future__ import annotations

import gc
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback

import torch

from grader.boundary import allocator, sandbox, uidkill, wire, worker

# One thread, set before any op runs: a fork after a multi-threaded op can deadlock, and
# the worker's system-call filter denies new threads (grader.boundary.sandbox), so torch
# must never need one there (no intra-op pool, no inter-op pool).
torch.set_num_threads(1)
torch.set_num_interop_threads(1)
# Workers inherit the heap's thresholds: a function allocates as it does in the trusted
# process that times its baseline (grader.boundary.allocator).
allocator.settle()


def _one_thread(n: int) -> None:
    """What a submission's torch.set_num_threads(n) does in a worker: nothing. With n > 1
    OpenMP would start threads the filter denies, and libgomp then exits the process."""


torch.set_num_threads = torch.set_num_interop_threads = _one_thread

_status: dict[int, int] = {}
_workdirs: dict[int, str] = {}
_uids: dict[int, int] = {}
_memory: dict[int, int] = {}  # worker pid -> resident-memory cap in bytes
_mode = {"sandbox": "rlimits"}
_killer: dict[str, socket.socket] = {}  # "sock": the uid killer's socket, when it runs


def _reap(*_):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in _workdirs:
            _status[pid] = status
            _memory.pop(pid, None)
            shutil.rmtree(_workdirs.pop(pid, ""), ignore_errors=True)


def _kill_uid(uid: int) -> None:
    """Kill every process of `uid` (in this pid namespace), so nothing the worker left
    behind (daemons, threads, setsid groups) survives its submission: through the uid
    killer when it runs (grader.boundary.uidkill), else from a helper forked here."""
    killer = _killer.get("sock")
    if killer is not None:
        try:
            uidkill.request(killer, uid)
            return
        except OSError:
            _killer.pop("sock", None)  # gone: fork the helpers here from now on
    uidkill.kill_uid(uid)


def _kill(pid: int) -> None:
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    uid = _uids.pop(pid, None)
    if uid is not None and os.getuid() == 0:
        _kill_uid(uid)


def _rss_by_session() -> dict[int, int]:
    """Resident bytes per session id (a worker's pid: it calls setsid), from /proc."""
    page = os.sysconf("SC_PAGE_SIZE")
    totals: dict[int, int] = {}
    if _mode["sandbox"] == "bwrap":  # our own pid namespace: only our processes
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    else:
        pids = list(_memory)
    for p in pids:
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        sid, rss = int(fields[3]), int(fields[21])
        if sid in _memory:
            totals[sid] = totals.get(sid, 0) + rss * page
    return totals


def _watch_memory() -> None:
    if not _memory:
        return
    for sid, rss in _rss_by_session().items():
        if rss > _memory.get(sid, rss):
            _kill(sid)


def _spawn(control: socket.socket, req: dict) -> None:
    limits = sandbox.Limits.from_json(req.get("limits", {}))
    uid = req.get("uid")
    if uid is not None and not (isinstance(uid, int) and uid >= sandbox.SLOT_UID_BASE):
        wire.send(control, {"ok": False, "error": f"bad worker uid {uid!r}"})
        return
    private_dir = _mode["sandbox"] == "bwrap" and os.getuid() == 0
    workdir = tempfile.mkdtemp(prefix="dlgrade-w-", dir="/tmp" if private_dir else None)
    parent_end, child_end = socket.socketpair()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            control.close()
            if "sock" in _killer:
                _killer["sock"].close()  # a worker must never reach the uid killer
            parent_end.close()
            os.close(out_r)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            try:
                notes = sandbox.enter_worker(limits, workdir, uid, private_dir=private_dir,
                                             device=str(req.get("device", "cpu")))
            except BaseException:
                traceback.print_exc()
                sys.stderr.flush()
                os._exit(70)
            for note in notes:
                print(f"dlgrade sandbox: {note}", file=sys.stderr, flush=True)
            worker.Worker(child_end).serve()
        finally:
            os._exit(0)
    _workdirs[pid] = workdir
    _memory[pid] = limits.memory_mb * sandbox.MB
    if uid is not None:
        _uids[pid] = uid
    child_end.close()
    os.close(out_w)
    wire.send(control, {"ok": True, "pid": pid})
    socket.send_fds(control, [b"F"], [parent_end.fileno(), out_r])
    parent_end.close()
    os.close(out_r)


def _wait_status(pid: int, wait: float) -> int | None:
    deadline = time.monotonic() + wait
    while pid not in _status and time.monotonic() < deadline:
        _reap()
        time.sleep(0.005)
    return _status.pop(pid, None)


WATCH_INTERVAL = 0.1
"""Seconds between two looks at the workers' resident memory."""


def serve(control: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, _reap)
    last_watch = 0.0
    while True:
        # The memory watch runs on a clock, not only when the control socket is idle: a
        # busy grader (many workers, many calls) would otherwise never let it run.
        if time.monotonic() - last_watch >= WATCH_INTERVAL:
            _watch_memory()
            last_watch = time.monotonic()
        try:
            ready, _, _ = select.select([control], [], [], WATCH_INTERVAL)
        except InterruptedError:
            ready = []
        if not ready:
            continue
        try:
            req = wire.recv(control).header
        except (EOFError, ConnectionError):
            break
        op = req.get("op")
        if op == "spawn":
            _spawn(control, req)
        elif op == "kill":
            _kill(int(req["pid"]))
            wire.send(control, {"ok": True})
        elif op == "status":
            status = _wait_status(int(req["pid"]), float(req.get("wait", 0)))
            wire.send(control, {"ok": True, "status": status})
        elif op == "bye":
            break
        else:
            wire.send(control, {"ok": False, "error": f"unknown op {op!r}"})
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for pid in list(_workdirs):
        _kill(pid)
    # SIGKILLed workers end promptly: wait for each (bounded) instead of a fixed sleep.
    deadline = time.monotonic() + 2.0
    for pid in list(_workdirs):
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            time.sleep(0.002)
    for path in list(_workdirs.values()):
        shutil.rmtree(path, ignore_errors=True)
    _workdirs.clear()


def _warm_up() -> None:
    """Run the worker's code paths once, so lazy imports happen here and not per fork."""
    a, b = socket.socketpair()
    w = worker.Worker(b)
    enc = wire.Encoder()
    x = enc.encode(torch.ones(2, 2, dtype=torch.float64))
    msg = wire.Decoded({}, [torch.ones(2, 2, dtype=torch.float64)], [("cpu", "torch.Tensor")])
    w.module = torch
    w.call({"fn": "matmul", "args": [x, x], "keep": [], "record_ops": True}, msg)
    a.close()
    b.close()


def main(control_fd: int, sandbox_name: str = "rlimits",
         killer: socket.socket | None = None) -> None:
    """Serve on `control_fd`. `killer`: the uid killer's socket (uidkill.start, called
    before this module imported torch)."""
    _mode["sandbox"] = sandbox_name
    if killer is not None:
        _killer["sock"] = killer
    sandbox.die_with_parent()
    _warm_up()
    # Everything imported so far lives as long as the workers: out of the collector's
    # reach, a worker's full collection no longer walks torch's ~170,000 objects (67 ms
    # here, a few times per submission) nor copies the pages they sit on after the fork.
    gc.freeze()
    control = socket.socket(fileno=control_fd)
    wire.send(control, {"ok": True, "ready": True, "torch": torch.__version__,
                        "recorder": worker.RECORDER})
    serve(control)
    # Everything is cleaned up: skip the interpreter's (torch-sized) teardown, which the
    # grader would otherwise wait out at every close.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(int(sys.argv[1]))
