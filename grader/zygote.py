"""The zygote: a warm fork server for workers.

Started fresh (exec, clean environment) by the trusted side, so it holds no secret: no
seed, no reference, no expected values. It imports torch once (1.5 s) and then forks a
worker per request (tens of ms). Each worker gets a new socket pair and an output pipe;
their trusted ends travel back over the control socket with SCM_RIGHTS.

Control requests (grader.wire messages): spawn, kill, status, bye.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
import time

import torch

from grader import sandbox, wire, worker

torch.set_num_threads(1)  # a fork after a multi-threaded op can deadlock

_status: dict[int, int] = {}
_workdirs: dict[int, str] = {}


def _reap(*_):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _status[pid] = status
        shutil.rmtree(_workdirs.pop(pid, ""), ignore_errors=True)


def _kill(pid: int) -> None:
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _spawn(control: socket.socket, req: dict) -> None:
    limits = sandbox.Limits.from_json(req.get("limits", {}))
    uid = req.get("uid")
    workdir = tempfile.mkdtemp(prefix="dlgrade-w-", dir=req.get("tmp") or None)
    parent_end, child_end = socket.socketpair()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            control.close()
            parent_end.close()
            os.close(out_r)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            sandbox.enter_worker(limits, workdir, uid)
            worker.Worker(child_end).serve()
        finally:
            os._exit(0)
    _workdirs[pid] = workdir
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


def serve(control: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, _reap)
    while True:
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
    for pid in list(_workdirs):
        _kill(pid)
    time.sleep(0.05)
    _reap()


def _warm_up() -> None:
    """Run the worker's code paths once, so lazy imports happen here and not per fork."""
    a, b = socket.socketpair()
    w = worker.Worker(b)
    enc = wire.Encoder()
    x = enc.encode(torch.ones(2, 2, dtype=torch.float64))
    msg = wire.Decoded({}, [torch.ones(2, 2, dtype=torch.float64)], enc.tensors)
    w.module = torch
    w.call({"fn": "matmul", "args": [x, x], "keep": [], "record_ops": True}, msg)
    a.close()
    b.close()


def main(control_fd: int) -> None:
    sandbox.die_with_parent()
    _warm_up()
    control = socket.socket(fileno=control_fd)
    wire.send(control, {"ok": True, "ready": True, "torch": torch.__version__})
    serve(control)


if __name__ == "__main__":
    main(int(sys.argv[1]))
