"""Workers without a fork server: one fresh Python process per worker ("plain").

Where the fork server cannot work or cannot be trusted to (Windows has no fork and no
SCM_RIGHTS; on macOS, forking a process that imported torch can crash in system
frameworks), each worker is a new interpreter started with a clean environment in its own
temporary folder. It connects back to a one-shot listening socket on 127.0.0.1 and proves
itself with a random token, then serves requests exactly as a forked worker does
(grader.boundary.worker). Each start imports torch (1-3 s), which is fine for a student's
`dlgrade check` of their own code; `grade` keeps the fork server.

`Spawner` has the interface WorkerSession and the executors use from a Zygote:
spawn, kill, status, close, sandbox, proc, torch_version.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from grader.boundary import oprecord
from grader.boundary.sandbox import PACKAGE_ROOT, Limits, Sandbox, clean_env, launch_zygote


class _Alive:
    """Stands for a fork server's process: a Spawner never dies as a whole."""

    pid = None

    def poll(self):
        return None


def _boot(port: int, token: str) -> str:
    # -I drops the current folder from sys.path: the package is found where it is installed
    # (site-packages for the student wheel) or through PACKAGE_ROOT for a checkout.
    return (f"import sys; sys.path.insert(0, {PACKAGE_ROOT!r}); "
            f"from grader.boundary.spawn import worker_main; worker_main({port}, {token!r})")


def worker_main(port: int, token: str) -> None:
    """Inside the new process: apply what limits this platform has, connect, serve."""
    import torch

    from grader.boundary import worker

    torch.set_num_threads(1)
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.settimeout(None)
    sock.sendall(token.encode("ascii"))
    workdir = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", ".", workdir)]
    if hasattr(os, "setsid"):
        from grader.boundary import sandbox

        # Unix (macOS): the same rlimits and environment as a forked worker.
        try:
            sandbox.enter_worker(Limits(), workdir)
        except (OSError, ValueError) as e:
            print(f"dlgrade: resource limits not applied: {e}", file=sys.stderr)
    worker.Worker(sock).serve()


class Spawner:
    """Starts one plain process per worker (see the module docstring). Thread-safe."""

    def __init__(self, sandbox: Sandbox | None = None, start_timeout: float = 120.0):
        self.sandbox = sandbox or Sandbox("plain")
        self.start_timeout = start_timeout
        self.proc = _Alive()
        self._lock = threading.Lock()
        self._procs: dict[int, tuple[subprocess.Popen, str]] = {}
        import torch

        self.torch_version: str | None = torch.__version__
        oprecord.ensure_built()
        self.recorder = oprecord.mode()
        """Which op recorder the workers use (they load the same library, or none)."""

    def _ready(self) -> None:
        """Nothing to wait for: each worker starts on demand."""

    def wait_ready(self) -> None:
        """As Zygote.wait_ready; a Spawner has no server to boot."""

    def spawn(self, limits: Limits, uid: int | None = None,
              device: str = "cpu") -> tuple[int, socket.socket, int]:
        # `device` as for Zygote.spawn (a plain worker creates any CUDA context lazily)
        from grader.boundary.session import WorkerError

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        token = secrets.token_hex(16)
        workdir = tempfile.mkdtemp(prefix="dlgrade-w-")
        env = clean_env()
        if sys.platform == "win32":  # Windows needs these to start Python at all
            for key in ("SYSTEMROOT", "WINDIR", "TEMP", "TMP", "PATH"):
                if key in os.environ:
                    env[key] = os.environ[key]
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _boot(listener.getsockname()[1], token)],
                cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT)
        except OSError as e:
            listener.close()
            shutil.rmtree(workdir, ignore_errors=True)
            raise WorkerError(f"could not start a worker: {e}") from e
        deadline = time.monotonic() + self.start_timeout
        try:
            while True:
                listener.settimeout(max(0.1, min(1.0, deadline - time.monotonic())))
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise WorkerError("could not start a worker: it exited or did not "
                                          f"connect (exit status {proc.poll()})") from None
                    continue
                conn.settimeout(10)
                got = b""
                try:
                    while len(got) < len(token):
                        chunk = conn.recv(len(token) - len(got))
                        if not chunk:
                            break
                        got += chunk
                except OSError:
                    pass
                if got == token.encode("ascii"):
                    conn.settimeout(None)
                    break
                conn.close()  # something else on this machine connected: not our worker
        except BaseException:
            proc.kill()
            proc.wait()
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        finally:
            listener.close()
        with self._lock:
            self._procs[proc.pid] = (proc, workdir)
        # The output tail closes its descriptor; the Popen object keeps its own.
        return proc.pid, conn, os.dup(proc.stdout.fileno())

    def kill(self, pid: int) -> None:
        with self._lock:
            entry = self._procs.get(pid)
        if entry is None:
            return
        proc, workdir = entry
        if proc.poll() is None:
            if hasattr(os, "killpg"):  # the worker called setsid: its children go too
                try:
                    os.killpg(proc.pid, 9)
                except OSError:
                    pass
            proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return
        shutil.rmtree(workdir, ignore_errors=True)

    def status(self, pid: int, wait: float = 0.5) -> int | None:
        """The worker's end as a wait status (what describe_status reads), or None."""
        with self._lock:
            entry = self._procs.get(pid)
        if entry is None:
            return None
        try:
            rc = entry[0].wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None
        return -rc if rc < 0 else rc << 8  # a signal number, or an exit status

    def close(self) -> None:
        with self._lock:
            pids = list(self._procs)
        for pid in pids:
            self.kill(pid)
        with self._lock:
            for proc, workdir in self._procs.values():
                if proc.stdout is not None:
                    proc.stdout.close()
                shutil.rmtree(workdir, ignore_errors=True)
            self._procs.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def revived(server):
    """`server` (what `start` returned) while it lives, else a new one under the same
    sandbox, the old one closed: once per death (e.g. the OOM killer took it)."""
    if server.proc.poll() is None:
        return server
    new = start(server.sandbox)
    try:
        server.close()
    except OSError:
        pass
    return new


def start(box: Sandbox):
    """What starts workers under `box`: a Spawner for "plain", else the fork server."""
    if box.name == "plain":
        return Spawner(box)
    # The fork server starts importing torch before this process does (session imports
    # it): on two cores the two imports overlap instead of following each other.
    launched = launch_zygote(box)
    from grader.boundary.session import Zygote

    return Zygote(box, launched=launched)
