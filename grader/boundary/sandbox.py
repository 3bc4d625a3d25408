"""How an untrusted worker process is confined.

Two pieces: the command that starts the zygote (the warm fork server, see grader.boundary.zygote),
and what a freshly forked worker does to itself before it runs any student code
(`enter_worker`). The isolation level is reported as `Sandbox.name` and recorded in
every result.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from grader.boundary import oprecord

MB = 1024 * 1024
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
# A checkout (PACKAGE_ROOT holds reference/, hidden tests, other submissions) must never be
# exposed whole. A copy installed from the student wheel lives in site-packages, which holds
# nothing of the kind: there the virtualenv around it is bound like any Python install.
_IN_CHECKOUT = any(os.path.exists(os.path.join(PACKAGE_ROOT, n))
                   for n in ("pyproject.toml", "reference", "assignments", ".git"))
"""The folder holding the grader package (a checkout, or site-packages)."""


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
    memory_mb: int = 3072
    """Resident memory of everything the worker runs; the zygote kills it above this."""
    workdir_mb: int = 256
    """Size of the worker's private folder (a tmpfs of its own under bwrap)."""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Limits:
        return cls(**{k: int(v) for k, v in data.items() if k in cls.__dataclass_fields__})


SLOT_UID_BASE = 64000
"""Concurrent workers run as SLOT_UID_BASE + slot (chosen by the trusted side)."""

# Capabilities the zygote keeps inside bwrap (as root): switch a worker to its slot uid,
# give it a private tmpfs, kill what it leaves behind, clean up its folder. Workers drop
# every capability when they setuid.
_ZYGOTE_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SYS_ADMIN", "CAP_KILL", "CAP_CHOWN",
                "CAP_DAC_OVERRIDE", "CAP_FOWNER")


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _python_roots() -> list[str]:
    """The folders the interpreter and its packages live in, as real paths, deduplicated.

    Never the project root itself or any folder above it: that would expose reference/,
    hidden tests and other submissions. The venv inside the project (.venv) is fine.
    """
    import importlib.util
    import site

    cands = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))]
    try:
        cands += site.getsitepackages()
    except AttributeError:
        pass
    for name in ("torch", "numpy", "yaml"):
        # Located, not imported: the fork server must start before this process spends
        # ~2 s importing torch (grader.boundary.spawn.start).
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin and os.path.isfile(spec.origin):
            cands.append(os.path.dirname(os.path.dirname(os.path.realpath(spec.origin))))
    out: list[str] = []
    for c in cands:
        for p in {os.path.abspath(c), os.path.realpath(c)}:
            if not os.path.isdir(p) or (_IN_CHECKOUT and _is_under(PACKAGE_ROOT, p)):
                continue
            if _is_under(p, PACKAGE_ROOT) and not _is_under(p, os.path.join(PACKAGE_ROOT,
                                                                              ".venv")):
                continue
            if any(p == q or _is_under(p, q) for q in ("/usr", "/lib", "/lib64")):
                continue
            out.append(p)
    out = sorted(set(out), key=len)
    return [p for i, p in enumerate(out) if not any(_is_under(p, q) for q in out[:i])]


MOUNTED_FIRST = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/tmp",
                 "/proc", "/dev")
"""What bwrap_argv mounts before the Python roots (a folder under one exists already,
except under FRESH_MOUNTS)."""
FRESH_MOUNTS = ("/tmp",)
"""Mounted empty (a tmpfs): the folder exists, nothing below it does. A checkout or
virtualenv under /tmp (a CI clone, an unpacked autograder) needs its parents made too, or
bwrap makes them root-only and a worker running as its slot uid can import nothing the
fork server had not preloaded."""


def _missing_parents(targets: list[str], bound: list[str]) -> list[str]:
    """The folders above each bind target, outermost first, that no earlier mount
    provides (a folder under a read-only bind such as /usr cannot be created or chmod-ed)."""
    out: list[str] = []
    for t in targets:
        parts = Path(t).parts[1:-1]
        for i in range(len(parts)):
            p = "/" + "/".join(parts[:i + 1])
            provided = any(_is_under(p, b) for b in bound) and not any(
                _is_under(p, f) and p != f for f in FRESH_MOUNTS)
            if p not in out and not provided:
                out.append(p)
    return sorted(out, key=lambda p: p.count("/"))


@dataclass(frozen=True)
class Sandbox:
    """Which isolation the workers get.

    "bwrap": the zygote runs under bubblewrap in new pid, net, ipc, uts and mount
    namespaces, seeing only the Python installation and grader/ (read-only), a small
    /tmp, its own /proc and a minimal /dev; each worker then gets a private tmpfs, a slot
    uid (when the grader runs as root), no new privileges, a seccomp filter and rlimits.
    "rlimits": a separate process with resource limits, a scrubbed environment and, on
    Linux, the same seccomp filter; no namespaces.
    """

    name: str = "rlimits"
    uids: bool = False
    """Whether workers run as per-slot uids (bwrap started by root)."""
    tmp_mb: int = 64
    """Size of the zygote's /tmp under bwrap (workers' folders are tmpfs of their own)."""

    def bwrap_argv(self, command: list[str]) -> list[str]:
        bwrap = shutil.which("bwrap") or "bwrap"
        argv = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent", "--new-session",
                "--hostname", "dlgrade",
                # The tmpfs first: binds made after it stay visible even when the checkout
                # or the virtualenv lives under /tmp (a CI clone, an unpacked autograder).
                "--perms", "0755", "--size", str(self.tmp_mb * MB), "--tmpfs", "/tmp",
                "--proc", "/proc", "--dev", "/dev"]
        for d in ("/usr", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                  "/etc/localtime", "/etc/alternatives"):
            if os.path.exists(d):
                argv += ["--ro-bind", d, d]
        for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(d):
                argv += ["--symlink", os.readlink(d), d]
            elif os.path.isdir(d):
                argv += ["--ro-bind", d, d]
        grader_dir = os.path.join(PACKAGE_ROOT, "grader")
        roots = _python_roots()
        # bwrap creates the missing parents of a bind readable by root only (as root), so a
        # worker running as its slot uid could not enter /root/.pyenv/... or /opt/venv and
        # every import the zygote had not preloaded failed ("No module named yaml"). Create
        # each parent first, world-traversable and empty apart from what is bound into it.
        for d in _missing_parents([*roots, grader_dir], MOUNTED_FIRST):
            argv += ["--perms", "0755", "--dir", d]
        for d in roots:
            argv += ["--ro-bind", d, d]
        argv += ["--ro-bind", grader_dir, grader_dir, "--remount-ro", "/", "--chdir", "/tmp"]
        if os.getuid() == 0:
            argv += ["--cap-drop", "ALL"]
            for cap in _ZYGOTE_CAPS:
                argv += ["--cap-add", cap]
        return argv + ["--", *command]

    def zygote_argv(self, control_fd: int) -> list[str]:
        # -I: no user site, no PYTHON* variables, no current directory on sys.path.
        # As root, the uid killer is forked first, while the process is small
        # (grader.boundary.uidkill); the fork server imports torch after.
        boot = (f"import os, sys; sys.path.insert(0, {PACKAGE_ROOT!r}); "
                "from grader.boundary import uidkill; "
                f"k = uidkill.start(({control_fd},)) if os.getuid() == 0 else None; "
                f"from grader.boundary.zygote import main; main({control_fd}, {self.name!r}, k)")
        cmd = [sys.executable, "-I", "-c", boot]
        if self.name == "bwrap":
            return self.bwrap_argv(cmd)
        return cmd

    def warning(self) -> str | None:
        if self.name == "plain":
            return ("sandbox: none; every worker is a plain Python process (with resource "
                    "limits where the platform has them): it can read any file this user "
                    "can read and use the network")
        if self.name == "rlimits":
            return ("sandbox: namespaces unavailable (no working bubblewrap, or "
                    "--sandbox rlimits); workers are isolated by a separate process, "
                    "resource limits, a system-call filter and, where the kernel allows, "
                    "IPC and network namespaces of their own: they can read any file this "
                    "user can read (reference/, hidden tests)")
        if not self.uids:
            return ("sandbox: not running as root, so all workers share one uid: each has "
                    "its own user, mount, IPC and network namespaces and private /tmp, but "
                    "they share one process limit")
        return None


_probe_cache: dict[str, str] = {}


def probe_bwrap() -> str | None:
    """Why bubblewrap cannot be used here, or None when it works (checked once)."""
    if "result" in _probe_cache:
        return _probe_cache["result"] or None
    why = ""
    if not sys.platform.startswith("linux"):
        why = f"namespaces are Linux-only (this is {sys.platform})"
    elif shutil.which("bwrap") is None:
        why = "bubblewrap (bwrap) is not installed"
    else:
        cmd = [sys.executable, "-I", "-c", "import os; os.listdir('/proc')"]
        try:
            p = subprocess.run(Sandbox("bwrap").bwrap_argv(cmd), env=clean_env(),
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
            if p.returncode != 0:
                err = p.stderr.decode("utf-8", "replace").strip().splitlines()
                why = "bwrap failed its probe: " + (err[-1] if err else f"exit {p.returncode}")
        except (OSError, subprocess.TimeoutExpired) as e:
            why = f"bwrap failed its probe: {e}"
    _probe_cache["result"] = why
    return why or None


PLAIN_PLATFORMS = ("win32", "darwin")
"""Where workers are plain processes (grader.boundary.spawn): no fork on Windows, and
forking a process that imported torch is unsafe on macOS."""


def choose(mode: str = "auto") -> tuple[Sandbox, str | None]:
    """The sandbox for --sandbox MODE (auto, bwrap, rlimits), and why it is degraded.

    Raises RuntimeError for "bwrap" when bubblewrap does not work here.
    """
    if mode == "plain":
        return Sandbox("plain"), "--sandbox plain"
    if mode == "auto" and sys.platform in PLAIN_PLATFORMS:
        return Sandbox("plain"), f"no sandbox on {sys.platform}"
    if mode == "rlimits":
        return Sandbox("rlimits"), "--sandbox rlimits"
    why = probe_bwrap()
    if why is None:
        return Sandbox("bwrap", uids=os.getuid() == 0), None
    if mode == "bwrap":
        raise RuntimeError(f"--sandbox bwrap: {why}")
    return Sandbox("rlimits"), why


def clean_env(extra: dict | None = None) -> dict:
    """The environment a zygote starts with: nothing inherited, so no secret can leak."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if os.environ.get("DLGRADE_RECORDER"):  # "python": the fallback recorder, on purpose
        env["DLGRADE_RECORDER"] = os.environ["DLGRADE_RECORDER"]
    env.update(extra or {})
    return env


def launch_zygote(box: Sandbox) -> tuple[subprocess.Popen, socket.socket]:
    """Start the fork server's process under `box` and return it with the grader's end of
    its control socket. Nothing here imports torch, so a caller that has not imported it
    yet can start the fork server first and import torch while the fork server does."""
    # Its workers record ops with the native recorder when it is built (once per torch
    # version, a few seconds; `make setup` does it ahead), else with the Python one.
    oprecord.ensure_built()
    ours, theirs = socket.socketpair()
    try:
        proc = subprocess.Popen(box.zygote_argv(theirs.fileno()), pass_fds=[theirs.fileno()],
                                env=clean_env(), stdin=subprocess.DEVNULL,
                                start_new_session=True)
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return proc, ours


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# ---------------------------------------------------------------------------- seccomp

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# System calls a worker never needs, per architecture (numbers from the kernel's tables).
_SYSCALLS = {
    "x86_64": dict(
        execve=59, execveat=322, fork=57, vfork=58, ptrace=101, process_vm_readv=310,
        process_vm_writev=311, mount=165, umount2=166, unshare=272, setns=308,
        kexec_load=246, kexec_file_load=320, bpf=321, perf_event_open=298, keyctl=250,
        add_key=248, request_key=249, pivot_root=155, chroot=161, init_module=175,
        finit_module=313, delete_module=176, reboot=169, swapon=167, swapoff=168,
        userfaultfd=323, io_uring_setup=425, io_uring_enter=426, io_uring_register=427,
        acct=163, settimeofday=164, clock_settime=227, adjtimex=159, clock_adjtime=305,
        kcmp=312, pidfd_getfd=438, pidfd_open=434, pidfd_send_signal=424,
        name_to_handle_at=303, open_by_handle_at=304, quotactl=179, open_tree=428,
        move_mount=429, fsopen=430, fsconfig=431, fsmount=432, fspick=433,
        mount_setattr=442, tkill=200, rt_sigqueueinfo=129, rt_tgsigqueueinfo=297,
        lookup_dcookie=212, uselib=134, iopl=172, ioperm=173, vhangup=153,
        shmget=29, shmat=30, shmctl=31, shmdt=67, semget=64, semop=65, semctl=66,
        semtimedop=220, msgget=68, msgsnd=69, msgrcv=70, msgctl=71, mq_open=240,
        mq_unlink=241, mq_timedsend=242, mq_timedreceive=243, mq_notify=244,
        mq_getsetattr=245, memfd_create=319, memfd_secret=447,
        socket=41, socketpair=53, clone=56, clone3=435, kill=62, tgkill=234, fcntl=72,
        ioctl=16),
    "aarch64": dict(
        execve=221, execveat=281, ptrace=117, process_vm_readv=270, process_vm_writev=271,
        mount=40, umount2=39, unshare=97, setns=268, kexec_load=104, kexec_file_load=294,
        bpf=280, perf_event_open=241, keyctl=219, add_key=217, request_key=218,
        pivot_root=41, chroot=51, init_module=105, finit_module=273, delete_module=106,
        reboot=142, swapon=224, swapoff=225, userfaultfd=282, io_uring_setup=425,
        io_uring_enter=426, io_uring_register=427, acct=89, settimeofday=170,
        clock_settime=112, adjtimex=171, clock_adjtime=266, kcmp=272, pidfd_getfd=438,
        pidfd_open=434, pidfd_send_signal=424, name_to_handle_at=264,
        open_by_handle_at=265, quotactl=60, open_tree=428, move_mount=429, fsopen=430,
        fsconfig=431, fsmount=432, fspick=433, mount_setattr=442, tkill=130,
        rt_sigqueueinfo=138, rt_tgsigqueueinfo=240, lookup_dcookie=18, vhangup=58,
        shmget=194, shmctl=195, shmat=196, shmdt=197, msgget=186, msgctl=187, msgrcv=188,
        msgsnd=189, semget=190, semctl=191, semtimedop=192, semop=193, mq_open=180,
        mq_unlink=181, mq_timedsend=182, mq_timedreceive=183, mq_notify=184,
        mq_getsetattr=185, memfd_create=279, memfd_secret=447,
        socket=198, socketpair=199, clone=220, clone3=435, kill=129, tgkill=131, fcntl=25,
        ioctl=29),
}
_SPECIAL = ("socket", "socketpair", "clone", "clone3", "kill", "tgkill", "fcntl", "ioctl")
# fcntl commands that make the kernel signal another process when a file is ready
# (F_SETOWN, F_SETSIG, F_SETOWN_EX): with them a worker had SIGKILL delivered to the grader
# or to the fork server. ioctl's FIOSETOWN and SIOCSPGRP set the same owner.
_FCNTL_SIGNAL_OWNER = (8, 10, 15)
_IOCTL_SIGNAL_OWNER = (0x8901, 0x8902)
_RET_ALLOW, _RET_KILL = 0x7FFF0000, 0x80000000


def _ret_errno(errno_: int) -> int:
    return 0x00050000 | errno_


def seccomp_program(pid: int, arch: str | None = None, *,
                    unix_sockets: bool = True) -> list[tuple[int, int, int, int]]:
    """The worker's BPF filter as (code, jt, jf, k) rows.

    Denied with EPERM: program execution, fork, threads (clone with CLONE_THREAD: the op
    recorder and the autograd check see the thread that runs a call, so work done in a
    thread of the submission's own would escape them; torch runs single-threaded in the
    worker, see grader.boundary.zygote), new namespaces, ptrace and reading other
    processes' memory, mounts, kernel modules and keys, bpf, perf, io_uring, setting
    clocks, signals to anyone but the worker itself (kill, tgkill, and the file-owner
    signals of fcntl F_SETOWN, F_SETSIG, F_SETOWN_EX and ioctl FIOSETOWN, SIOCSPGRP), SysV
    shared memory, semaphores and message queues, POSIX message queues, and memfd_create
    (memory no rlimit or resident-size watch sees). Sockets: AF_UNIX only, and none at all
    when not `unix_sockets` (a worker without a network namespace of its own would share
    the abstract socket names of its neighbours; socketpair stays allowed: it names
    nothing). clone3 answers ENOSYS so that libc falls back to clone, which this filter
    denies.
    """
    import errno

    arch = arch or os.uname().machine
    nrs = _SYSCALLS[arch]
    ld_nr, ld_arch, ld_arg0 = (0x20, 0, 0, 0), (0x20, 0, 0, 4), (0x20, 0, 0, 16)
    ld_arg1 = (0x20, 0, 0, 24)  # the low 32 bits of args[1] (little-endian)

    def jeq(k, jt, jf):
        return (0x15, jt, jf, k & 0xFFFFFFFF)

    def ret(k):
        return (0x06, 0, 0, k)

    allow, eperm = ret(_RET_ALLOW), ret(_ret_errno(errno.EPERM))
    prog = [ld_arch, jeq(_AUDIT_ARCH[arch], 1, 0), ret(_RET_KILL), ld_nr]
    if arch == "x86_64":  # the x32 ABI's numbers would bypass the table
        prog += [(0x35, 0, 1, 0x40000000), eperm]
    for name, nr in nrs.items():
        if name not in _SPECIAL:
            prog += [jeq(nr, 0, 1), eperm]
    prog += [jeq(nrs["socket"], 0, 4), ld_arg0, jeq(1 if unix_sockets else -1, 0, 1), allow,
             ret(_ret_errno(errno.EAFNOSUPPORT))]  # AF_UNIX == 1; no family is -1
    prog += [jeq(nrs["socketpair"], 0, 4), ld_arg0, jeq(1, 0, 1), allow,
             ret(_ret_errno(errno.EAFNOSUPPORT))]
    # Every clone: a process (fork), a thread or a namespace. EPERM, which Python reports as
    # "can't start new thread" / PermissionError, not a kill: the submission sees an error.
    prog += [jeq(nrs["clone"], 0, 1), eperm]
    prog += [jeq(nrs["clone3"], 0, 1), ret(_ret_errno(errno.ENOSYS))]
    prog += [jeq(nrs["kill"], 0, 6), ld_arg0, jeq(pid, 3, 0), jeq(0, 2, 0), jeq(-pid, 1, 0),
             eperm, allow]
    prog += [jeq(nrs["tgkill"], 0, 4), ld_arg0, jeq(pid, 1, 0), eperm, allow]
    for name, cmds in (("fcntl", _FCNTL_SIGNAL_OWNER), ("ioctl", _IOCTL_SIGNAL_OWNER)):
        n = len(cmds)
        block = [ld_arg1]
        block += [jeq(c, n - 1 - j, 0) for j, c in enumerate(cmds[:-1])]
        block += [jeq(cmds[-1], 0, 1), eperm, allow]
        prog += [jeq(nrs[name], 0, len(block)), *block]
    prog.append(allow)
    return prog


def install_seccomp(unix_sockets: bool = True) -> str | None:
    """Set no_new_privs and load the worker filter; return why not, or None when loaded."""
    if not sys.platform.startswith("linux"):
        return f"no seccomp on {sys.platform}"
    if os.uname().machine not in _SYSCALLS:
        return f"no seccomp table for {os.uname().machine}"

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte),
                    ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    rows = seccomp_program(os.getpid(), unix_sockets=unix_sockets)
    arr = (SockFilter * len(rows))(*[SockFilter(*r) for r in rows])
    prog = SockFprog(len(rows), ctypes.cast(arr, ctypes.POINTER(SockFilter)))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p,
                           ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(38, 1, None, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return f"prctl(NO_NEW_PRIVS) failed: errno {ctypes.get_errno()}"
    if libc.prctl(22, 2, ctypes.addressof(prog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        return f"seccomp failed: errno {ctypes.get_errno()}"
    return None


# ---------------------------------------------------------------------------- workers


def private_tmpfs(path: str, size_mb: int, uid: int | None) -> None:
    """Mount a tmpfs of its own on `path`, in a mount namespace of the caller's own (root
    inside bwrap): one worker's huge files fill its own folder, never a neighbour's."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    # MS_REC | MS_PRIVATE: nothing mounted here propagates back to the zygote.
    if libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None) != 0:
        raise OSError(ctypes.get_errno(), "mount(MS_PRIVATE)")
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    opts = f"size={size_mb * MB},mode=0700,nr_inodes=4096{owner}".encode()
    # MS_NOSUID | MS_NODEV
    if libc.mount(b"tmpfs", path.encode(), b"tmpfs", 0x2 | 0x4, opts) != 0:
        raise OSError(ctypes.get_errno(), f"mount tmpfs on {path}")


_CLONE_NEWNS, _CLONE_NEWIPC, _CLONE_NEWNET, _CLONE_NEWUSER = (0x00020000, 0x08000000,
                                                              0x40000000, 0x10000000)


def _libc_call(name: str, *args) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        raise OSError(ctypes.get_errno(), f"{name}{args!r}: {os.strerror(ctypes.get_errno())}")


def _roots_under(folder: str) -> list[str]:
    """The Python roots and the grader package that live under `folder`."""
    return [p for p in [*_python_roots(), os.path.join(PACKAGE_ROOT, "grader")]
            if _is_under(p, folder) and os.path.isdir(p)]


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _drop_capabilities() -> None:
    """Empty every capability set (the creator of a user namespace holds all of them
    inside it; the worker needs none)."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    hdr, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capset(ctypes.byref(hdr), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def private_namespaces(workdir: str, limits: Limits, private_dir: bool) -> None:
    """Give the worker IPC and network namespaces of its own, before it drops privileges.

    Workers graded at the same time otherwise share the fork server's: one copied a
    neighbour's answers through SysV shared memory, another had a colluding neighbour
    answer its calls over an abstract unix socket (abstract names live in the network
    namespace). Under bwrap as root the worker still holds CAP_SYS_ADMIN and its folder is
    already a tmpfs of its own (`private_tmpfs`; /tmp and /dev/shm are root's there, and
    it runs as a slot uid): it unshares the two namespaces directly. Otherwise (bwrap run
    by a user, the fallback) it also makes a mount namespace, and, when not root, first a
    user namespace mapping only its own uid and gid; there it mounts private tmpfs on /tmp
    (its folder is recreated inside) and /dev/shm, so workers of one uid see neither each
    other's folders nor POSIX shared memory. A worker that made a user namespace then
    drops the capabilities it gave and becomes non-dumpable, so a neighbour of the same
    uid cannot read its memory through /proc/PID/mem.
    Raises OSError when the kernel refuses (the caller notes it and tightens seccomp).
    """
    if os.getuid() == 0 and private_dir:
        _libc_call("unshare", _CLONE_NEWIPC | _CLONE_NEWNET)
        return
    user = os.getuid() != 0
    uid, gid = os.getuid(), os.getgid()
    _libc_call("unshare", _CLONE_NEWNS | _CLONE_NEWIPC | _CLONE_NEWNET
               | (_CLONE_NEWUSER if user else 0))
    libc = ctypes.CDLL(None, use_errno=True)
    try:  # whatever fails below, the capabilities the new namespace gave are dropped
        if user:
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
        # MS_REC | MS_PRIVATE: nothing mounted here propagates back to the fork server.
        if libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None) != 0:
            raise OSError(ctypes.get_errno(), "mount(MS_PRIVATE)")
        opts = f"size={limits.workdir_mb * MB},mode=0700,nr_inodes=4096".encode()

        def tmpfs(path: str) -> None:
            # MS_NOSUID | MS_NODEV
            if libc.mount(b"tmpfs", path.encode(), b"tmpfs", 0x2 | 0x4, opts) != 0:
                raise OSError(ctypes.get_errno(), f"mount tmpfs on {path}")

        # A virtualenv or checkout under /tmp (a CI clone) would vanish under the new
        # tmpfs, and with it every module the fork server had not imported: hold each by
        # a file descriptor, then bind it back on top.
        kept = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in _roots_under("/tmp")]
        try:
            tmpfs("/tmp")  # hides other workers' folders (and, in the fallback, the host's)
            for path, fd in kept:
                os.makedirs(path, exist_ok=True)
                # MS_BIND | MS_REC, then read-only where the kernel lets this namespace
                if libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None,
                              0x1000 | 0x4000, None) != 0:
                    raise OSError(ctypes.get_errno(), f"bind {path} back over the tmpfs")
                libc.mount(None, path.encode(), None, 0x20 | 0x1000 | 0x1, None)
        finally:
            for _, fd in kept:
                os.close(fd)  # no handle on the host's folders is left to student code
        if _is_under(workdir, "/tmp"):
            os.makedirs(workdir, mode=0o700)
        else:
            tmpfs(workdir)
        if os.path.isdir("/dev/shm"):
            tmpfs("/dev/shm")
    finally:
        if user:
            _drop_capabilities()
            libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0


def enter_worker(limits: Limits, workdir: str, uid: int | None = None,
                 private_dir: bool = False, device: str = "cpu") -> list[str]:
    """Run in the forked worker before any student code: folder, identity, limits, filter.

    `device` "cuda...": CUDA is initialized here, before the filter, because the driver
    starts its threads then and the filter denies threads. Returns notes on protections
    that could not be applied (empty when all are on).
    """
    # Imported here, not at the top: `resource` is Unix-only, and this module must import on
    # Windows too (a student's `dlgrade check` loads it to choose the isolation).
    import resource

    notes: list[str] = []
    os.setsid()  # its own process group, so a kill reaches everything it starts
    die_with_parent()
    if private_dir:
        private_tmpfs(workdir, limits.workdir_mb, uid if os.getuid() == 0 else None)
    try:
        private_namespaces(workdir, limits, private_dir)
        own_netns = True
    except OSError as e:
        own_netns = False
        notes.append(f"no IPC and network namespaces of its own ({e}): SysV and POSIX "
                     "message queues and shared memory are denied by seccomp, and so are "
                     "sockets")
    os.chdir(workdir)
    # Libraries write their temporary files (torch._dynamo its inductor cache, matplotlib
    # its config) under tempfile.gettempdir(), which the fork server has cached as /tmp:
    # root's, or hidden, there. The worker's own folder is where it may write.
    import tempfile

    os.environ["TMPDIR"] = workdir
    tempfile.tempdir = workdir
    if uid is not None and os.getuid() == 0:
        os.chown(workdir, uid, uid)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise OSError("setuid did not take")
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
    if device.startswith("cuda"):
        import torch

        torch.zeros(1, device=device)  # the context, and the driver's threads, now
    why = install_seccomp(unix_sockets=own_netns)
    if why:
        notes.append(why)
    return notes
