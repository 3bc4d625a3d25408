"""How an untrusted worker process is confined.

Two pieces: the command that starts the zygote (the warm fork server, see grader.zygote),
and what a freshly forked worker does to itself before it runs any student code
(`enter_worker`). The isolation level is reported as `Sandbox.name` and recorded in
every result.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
from dataclasses import asdict, dataclass

MB = 1024 * 1024
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Limits:
    """Resource limits for one worker process."""

    address_space_mb: int = 4096
    """RLIMIT_AS; below ~0.6 GB `import torch` breaks, so keep a few GB."""
    cpu_seconds: int = 600
    """RLIMIT_CPU for the whole submission: a backstop behind the per-call wall clock."""
    file_size_mb: int = 64
    """RLIMIT_FSIZE: the largest file the worker may write."""
    open_files: int = 256
    """RLIMIT_NOFILE."""
    processes: int = 64
    """RLIMIT_NPROC; the kernel ignores it for root, so it only binds with a worker uid."""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Limits:
        return cls(**{k: int(v) for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Sandbox:
    """Which isolation the workers get."""

    name: str = "rlimits"
    """"rlimits": a separate process with resource limits and a scrubbed environment."""

    def zygote_argv(self, control_fd: int) -> list[str]:
        # -I: no user site, no PYTHON* variables, no current directory on sys.path.
        boot = (f"import sys; sys.path.insert(0, {PACKAGE_ROOT!r}); "
                f"from grader.zygote import main; main({control_fd})")
        return [sys.executable, "-I", "-c", boot]

    def warning(self) -> str | None:
        if self.name == "rlimits":
            return ("sandbox: namespaces unavailable; workers are isolated by a separate "
                    "process and resource limits only")
        return None


def clean_env(extra: dict | None = None) -> dict:
    """The environment a zygote starts with: nothing inherited, so no secret can leak."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra or {})
    return env


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def enter_worker(limits: Limits, workdir: str, uid: int | None = None) -> None:
    """Run in the forked worker before any student code: limits, directory, identity."""
    os.setsid()  # its own process group, so a kill reaches everything it starts
    die_with_parent()
    os.chdir(workdir)
    if uid is not None and os.getuid() == 0:
        os.chown(workdir, uid, uid)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    lim = [
        (resource.RLIMIT_AS, limits.address_space_mb * MB),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_FSIZE, limits.file_size_mb * MB),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ]
    if os.getuid() != 0:
        lim.append((resource.RLIMIT_NPROC, limits.processes))
    for which, value in lim:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            soft, hard = resource.getrlimit(which)
            if hard == resource.RLIM_INFINITY or value <= hard:
                raise
            resource.setrlimit(which, (hard, hard))
    os.environ.clear()
    os.environ.update({"HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
                       "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    # The submission is loaded by path; its folder is never on sys.path, so a file named
    # numpy.py or sitecustomize.py cannot shadow anything.
    sys.path[:] = [p for p in sys.path if p not in ("", ".", workdir)]
