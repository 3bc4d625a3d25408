"""The worker sandbox: what a worker can see and do, under bwrap and under the fallback."""

from __future__ import annotations

import os
import time

import pytest

from grader.boundary import sandbox
from grader.boundary.session import WorkerSession, Zygote

BWRAP = sandbox.probe_bwrap()
needs_bwrap = pytest.mark.skipif(BWRAP is not None, reason=f"no bwrap sandbox: {BWRAP}")

PROBE = '''
import os, socket, resource

def look(path):
    try:
        return sorted(os.listdir(path))
    except OSError as e:
        return type(e).__name__

def readable(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False

def write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return True
    except OSError:
        return False

def ident():
    return os.getuid(), os.getgid(), os.getgroups()

def try_socket(family):
    try:
        socket.socket(family, socket.SOCK_STREAM).close()
        return "ok"
    except OSError as e:
        return e.errno

def try_fork():
    try:
        pid = os.fork()
    except OSError as e:
        return e.errno
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return "forked"

def try_thread():
    import threading
    try:
        t = threading.Thread(target=lambda: None)
        t.start()
    except RuntimeError as e:
        return str(e)
    t.join()
    return "started"

def torch_after_filter():
    # what torch must still do with threads denied: matmul, conv, reductions, a sort
    import torch
    x = torch.randn(64, 64, dtype=torch.float64)
    c = torch.nn.functional.conv2d(torch.randn(2, 3, 9, 9), torch.randn(4, 3, 3, 3))
    return float((x @ x).sum() + c.sum() + x.sort(dim=1).values.sum()), torch.get_num_threads()

def try_exec():
    try:
        os.execv("/bin/true", ["true"])
    except OSError as e:
        return e.errno

def try_kill(pid):
    try:
        os.kill(pid, 0)
        return "ok"
    except OSError as e:
        return e.errno

def nproc():
    return resource.getrlimit(resource.RLIMIT_NPROC)[0]

def env():
    return dict(os.environ)

def sockets():
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                found.append(int(fd))
        except OSError:
            pass
    return found
'''


@pytest.fixture(scope="module")
def bwrap_zygote():
    if BWRAP is not None:
        pytest.skip(f"no bwrap sandbox: {BWRAP}")
    box, _ = sandbox.choose("bwrap")
    with Zygote(box) as z:
        yield z


def _call(session, fn, *args):
    r, _ = session.call(fn, args, record_ops=False)
    assert r.error is None, r.error
    return r.value


@needs_bwrap
def test_a_worker_holds_no_socket_but_its_own_channel(bwrap_zygote):
    """Not the fork server's control socket, nor the uid killer's (grader.boundary.uidkill):
    with either, a submission could start workers or end other uids' processes."""
    with WorkerSession(bwrap_zygote, "m", PROBE) as s:
        assert len(_call(s, "sockets")) == 1


@needs_bwrap
def test_filesystem_view_hides_the_project(bwrap_zygote):
    root = sandbox.PACKAGE_ROOT
    with WorkerSession(bwrap_zygote, "m", PROBE) as s:
        # Only what is bound there: grader/ and, when the venv lives in the checkout, .venv.
        assert _call(s, "look", root) in (["grader"], [".venv", "grader"], "PermissionError")
        for hidden in ("reference", "assignments", "tests", "examples"):
            assert _call(s, "readable", os.path.join(root, hidden, "x")) is False
            assert _call(s, "look", os.path.join(root, hidden)) in ("FileNotFoundError",
                                                                    "PermissionError")
        assert _call(s, "write", os.path.join(root, "grader", "compare.py")) is False
        assert _call(s, "write", "/usr/pwned") is False
        assert _call(s, "write", "/tmp/pwned") is False  # /tmp is root's, 0755
        assert _call(s, "write", "mine.txt") is True  # its private folder
        assert _call(s, "look", "/proc")[0] == "1"  # a pid namespace of its own
        assert "sda" not in _call(s, "look", "/dev")


NOT_PRELOADED = ("yaml", "matplotlib")
"""Packages the interpreter can import that the fork server does not import itself."""


@needs_bwrap
def test_imports_outside_the_preloaded_set_work_as_a_slot_uid(bwrap_zygote):
    """bwrap creates the parents of its binds (/root, /opt, the checkout) readable by root
    only; a worker running as its slot uid could then import nothing new."""
    src = (f"import sys\nPRELOADED = sorted(m for m in {NOT_PRELOADED!r} if m in sys.modules)\n"
           "import yaml\nimport matplotlib\n"
           "def f():\n    import fractions, json\n"
           "    return PRELOADED, os_uid(), yaml.safe_load('a: 1'), matplotlib.__version__\n"
           "def os_uid():\n    import os\n    return os.getuid()\n")
    with WorkerSession(bwrap_zygote, "m", src) as s:
        preloaded, uid, loaded, version = _call(s, "f")
    assert preloaded == []  # really imported by the submission, not inherited
    assert loaded == {"a": 1} and version
    if os.geteuid() == 0:
        assert uid >= sandbox.SLOT_UID_BASE


@needs_bwrap
def test_submission_importing_a_package_scores_full_marks_as_root(bwrap_zygote):
    from tests.conftest import ROOT, grade

    src = ("import yaml  # not preloaded by the fork server\n"
           + (ROOT / "reference" / "backprop" / "backprop.py").read_text())
    r = grade(bwrap_zygote, "backprop", src, performance=False)
    assert r.score == r.max_score, [t.output for t in r.tests if t.points < t.max_points]
    assert r.sandbox == "bwrap"


def test_bind_parents_are_created_traversable():
    parents = sandbox._missing_parents(["/root/.pyenv/versions/3.11/lib", "/usr/x/y",
                                        "/opt/venv"], ["/usr"])
    assert parents == ["/root", "/opt", "/root/.pyenv", "/root/.pyenv/versions",
                       "/root/.pyenv/versions/3.11"]
    argv = sandbox.Sandbox("bwrap", uids=True).bwrap_argv(["true"])
    grader_dir = sandbox.PACKAGE_ROOT + "/grader"
    first_bind = argv.index(grader_dir)
    for d in sandbox._missing_parents([grader_dir], list(sandbox.MOUNTED_FIRST)):
        i = argv.index(d)  # made a folder of mode 0755 before anything is bound in it
        assert argv[i - 3:i] == ["--perms", "0755", "--dir"] and i < first_bind, argv


def test_a_checkout_under_tmp_gets_traversable_parents():
    """/tmp is a fresh tmpfs under bwrap: a CI clone or an unpacked autograder there needs
    its parents made 0755 too (bwrap would make them root-only, and a slot uid could import
    nothing the fork server had not preloaded)."""
    assert sandbox._missing_parents(["/tmp/ci/clone/.venv", "/usr/lib/x"],
                                    list(sandbox.MOUNTED_FIRST)) == ["/tmp/ci", "/tmp/ci/clone"]


@needs_bwrap
def test_libraries_write_their_temporary_files_in_the_workers_folder(bwrap_zygote):
    """tempfile.gettempdir() was the fork server's /tmp (root's): importing torch._dynamo,
    which a worker now does itself when code needs it, failed with PermissionError."""
    src = ("import os, tempfile\n"
           "def f():\n"
           "    fd, path = tempfile.mkstemp()\n"
           "    os.close(fd)\n"
           "    import torch._dynamo  # writes its inductor cache folder under TMPDIR\n"
           "    return os.path.dirname(path) == os.getcwd(), os.environ['TMPDIR'] == os.getcwd()\n")
    with WorkerSession(bwrap_zygote, "m", src) as s:
        assert _call(s, "f") == (True, True)


@needs_bwrap
def test_worker_identity_network_and_syscalls(bwrap_zygote):
    import socket

    with WorkerSession(bwrap_zygote, "m", PROBE) as s:
        uid, gid, groups = _call(s, "ident")
        assert uid >= sandbox.SLOT_UID_BASE and gid == uid and groups == []
        assert _call(s, "try_socket", socket.AF_INET) == 97  # EAFNOSUPPORT
        assert _call(s, "try_socket", socket.AF_INET6) == 97
        assert _call(s, "try_socket", socket.AF_UNIX) == "ok"
        assert _call(s, "try_fork") == 1  # EPERM
        assert _call(s, "try_thread") == "can't start new thread"
        assert _call(s, "try_exec") == 1
        assert _call(s, "try_kill", 1) == 1
        assert _call(s, "nproc") == sandbox.Limits().processes
        assert set(_call(s, "env")) == {"HOME", "TMPDIR", "LANG", "PATH", "OMP_NUM_THREADS"}


@needs_bwrap
def test_concurrent_workers_get_distinct_uids_and_uids_are_reused(bwrap_zygote):
    a = WorkerSession(bwrap_zygote, "m", PROBE)
    b = WorkerSession(bwrap_zygote, "m", PROBE)
    try:
        ua, ub = _call(a, "ident")[0], _call(b, "ident")[0]
        assert ua != ub
    finally:
        a.close()
        b.close()
    with WorkerSession(bwrap_zygote, "m", PROBE) as c:
        # the lowest uid free on this machine: another dlgrade run may hold some
        assert _call(c, "ident")[0] <= max(ua, ub)


@needs_bwrap
def test_workers_started_from_threads_at_once_never_share_a_uid(bwrap_zygote):
    """Regression: leasing outside the spawn lock let two threads take the same uid, and
    one worker's cleanup (kill(-1) as that uid) killed the other mid-test."""
    import threading

    sessions, uids = [], []
    barrier = threading.Barrier(4)

    def start():
        s = WorkerSession(bwrap_zygote, "m", PROBE)
        sessions.append(s)
        barrier.wait()
        uids.append(_call(s, "ident")[0])

    threads = [threading.Thread(target=start) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(uids) == 4 and len(set(uids)) == 4, uids
    finally:
        for s in sessions:
            s.close()


@needs_bwrap
def test_threads_left_running_are_killed_with_the_worker(bwrap_zygote):
    # The filter denies threads now (work in one escaped the op recorder): the start fails,
    # and the worker still goes away whole.
    src = ("import threading, time\n"
           "def start():\n"
           "    threading.Thread(target=lambda: time.sleep(1000)).start()\n"
           "    return 1\n")
    with WorkerSession(bwrap_zygote, "m", src) as s:
        r, _ = s.call("start", record_ops=False)
        assert r.error is not None and "can't start new thread" in r.error.message
        pid = s.pid
    assert bwrap_zygote.status(pid, wait=2.0) is not None  # reaped: nothing of it is left


@needs_bwrap
def test_spawn_latency_under_bwrap(bwrap_zygote):
    """The fork-per-submission speed survives the sandbox (measured: see the report)."""
    times = []
    for _ in range(5):
        t = time.perf_counter()
        with WorkerSession(bwrap_zygote, "m", "def f():\n    return 1\n") as s:
            _call(s, "f")
        times.append(time.perf_counter() - t)
    assert sorted(times)[len(times) // 2] < 1.0, times


def test_fallback_is_labelled_and_warns():
    box, why = sandbox.choose("rlimits")
    assert box.name == "rlimits" and why == "--sandbox rlimits"
    assert "namespaces unavailable" in box.warning()
    assert box.zygote_argv(3)[0] != "bwrap" and "bwrap" not in box.zygote_argv(3)[0]


@pytest.mark.skipif(not os.uname().sysname == "Linux", reason="seccomp is Linux-only")
def test_fallback_worker_still_has_the_syscall_filter(zygote):
    import socket

    assert zygote.sandbox.name in ("rlimits", "bwrap")
    with WorkerSession(zygote, "m", PROBE) as s:
        assert _call(s, "try_socket", socket.AF_INET) == 97
        assert _call(s, "try_fork") == 1
        assert _call(s, "try_kill", 1) == 1
        # No threads: work done in one would escape the op recorder and the autograd check.
        assert _call(s, "try_thread") == "can't start new thread"
        assert _call(s, "torch_after_filter")[1] == 1


def test_seccomp_program_shape():
    prog = sandbox.seccomp_program(1234, "x86_64")
    assert prog[0] == (0x20, 0, 0, 4) and prog[-1] == (0x06, 0, 0, 0x7FFF0000)
    for i, (code, jt, jf, _k) in enumerate(prog):
        if code & 0x07 == 0x05:
            assert i + 1 + max(jt, jf) < len(prog)


# ---------------------------------------------------------------------------- neighbours
# Issue 14: workers graded at the same time shared the fork server's IPC and network
# namespaces (answers copied through SysV shared memory, a colluding neighbour answering
# over an abstract socket), and fcntl F_SETOWN + F_SETSIG let one deliver SIGKILL to the
# grader or the fork server.
NEIGHBOUR = r'''
import ctypes, fcntl, os, signal, socket, struct

libc = ctypes.CDLL(None, use_errno=True)

def sysv_shm(key):
    r = libc.shmget(key, 4096, 0o1666)  # IPC_CREAT | 0666
    return "ok" if r >= 0 else ctypes.get_errno()

def posix_mqueue():
    r = libc.mq_open(b"/dlgrade-test", os.O_CREAT | os.O_RDWR, 0o600, None)
    return "ok" if r >= 0 else ctypes.get_errno()

def memfd():
    try:
        os.memfd_create("x")
        return "ok"
    except OSError as e:
        return e.errno

def listen(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0" + name)
    s.listen(1)
    globals()["_server"] = s
    return "listening"

def connect(name):
    try:
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect("\0" + name)
        return "connected"
    except OSError as e:
        return e.errno

def signal_owner(target):
    a, b = socket.socketpair()
    globals()["_pair"] = (a, b)
    out = []
    for cmd, arg in ((fcntl.F_SETOWN, target), (10, signal.SIGKILL), (15, 0)):
        try:  # 10: F_SETSIG, 15: F_SETOWN_EX
            fcntl.fcntl(a, cmd, arg)
            out.append("ok")
        except OSError as e:
            out.append(e.errno)
    for req in (0x8901, 0x8902):  # FIOSETOWN, SIOCSPGRP
        try:
            fcntl.ioctl(a, req, struct.pack("i", target))
            out.append("ok")
        except OSError as e:
            out.append(e.errno)
    return out

def write_shm(name):
    try:
        with open("/dev/shm/" + name, "w") as f:
            f.write("x")
        return "ok"
    except OSError as e:
        return e.errno

def list_dir(path):
    try:
        return sorted(os.listdir(path))
    except OSError as e:
        return e.errno
'''


def _neighbours_are_isolated(z):
    import errno

    with WorkerSession(z, "m", NEIGHBOUR) as a, WorkerSession(z, "m", NEIGHBOUR) as b:
        assert _call(a, "sysv_shm", 0x5EED) == errno.EPERM
        assert _call(a, "posix_mqueue") == errno.EPERM
        assert _call(a, "memfd") == errno.EPERM
        assert _call(a, "signal_owner", os.getpid()) == [errno.EPERM] * 5
        # abstract unix socket names are per network namespace: a neighbour's is unreachable
        assert _call(a, "listen", "dlgrade-neighbour") == "listening"
        assert _call(b, "connect", "dlgrade-neighbour") == errno.ECONNREFUSED
        # POSIX shared memory: /dev/shm is private (or not writable at all)
        if _call(a, "write_shm", "from-a") == "ok":
            assert "from-a" not in (_call(b, "list_dir", "/dev/shm") or [])
        assert not os.path.exists("/dev/shm/from-a")  # never the host's


@needs_bwrap
def test_neighbours_are_isolated_under_bwrap(bwrap_zygote):
    _neighbours_are_isolated(bwrap_zygote)


@pytest.mark.skipif(not os.uname().sysname == "Linux", reason="namespaces are Linux-only")
def test_neighbours_are_isolated_under_the_fallback(zygote):
    assert zygote.sandbox.name == "rlimits"
    _neighbours_are_isolated(zygote)


@needs_bwrap
@pytest.mark.skipif(os.getuid() != 0, reason="slot uids need root")
def test_two_fork_servers_never_lease_the_same_uid(bwrap_zygote):
    """The lease is machine-wide (a lock file per uid): two grading runs on one machine
    (here: two fork servers in one process, each with its own bookkeeping) once both took
    the lowest uid, and one's cleanup (kill(-1) as that uid) killed the other's worker."""
    box, _ = sandbox.choose("bwrap")
    with Zygote(box) as other:
        with WorkerSession(bwrap_zygote, "m", PROBE) as a, WorkerSession(other, "m", PROBE) as b:
            ua, ub = _call(a, "ident")[0], _call(b, "ident")[0]
            assert ua != ub, (ua, ub)


def test_seccomp_program_denies_signal_owners_and_ipc():
    """The filter, run by a small BPF interpreter on the system calls that matter."""
    import errno

    def run(prog, nr, args=(0, 0), arch=0xC000003E):
        acc, pc = 0, 0
        data = {0: nr, 4: arch, 16: args[0] & 0xFFFFFFFF, 24: args[1] & 0xFFFFFFFF}
        while True:
            code, jt, jf, k = prog[pc]
            if code == 0x20:
                acc = data[k]
            elif code == 0x06:
                return k
            elif code == 0x15:
                pc += jt if acc == k else jf
            elif code == 0x45:
                pc += jt if acc & k else jf
            elif code == 0x35:
                pc += jt if acc >= k else jf
            pc += 1

    allow, eperm = 0x7FFF0000, 0x00050000 | errno.EPERM
    eafnosupport = 0x00050000 | errno.EAFNOSUPPORT
    prog = sandbox.seccomp_program(1234, "x86_64")
    nr = sandbox._SYSCALLS["x86_64"]
    for name in ("shmget", "shmat", "msgget", "semget", "mq_open", "memfd_create"):
        assert run(prog, nr[name]) == eperm, name
    for cmd in (8, 10, 15):  # F_SETOWN, F_SETSIG, F_SETOWN_EX
        assert run(prog, nr["fcntl"], (3, cmd)) == eperm, cmd
    for cmd in (1, 2, 3, 4):  # F_GETFD, F_SETFD, F_GETFL, F_SETFL
        assert run(prog, nr["fcntl"], (3, cmd)) == allow, cmd
    for req in (0x8901, 0x8902):
        assert run(prog, nr["ioctl"], (3, req)) == eperm, hex(req)
    assert run(prog, nr["ioctl"], (3, 0x5401)) == allow  # TCGETS
    assert run(prog, nr["socket"], (1, 1)) == allow  # AF_UNIX, with a netns of its own
    closed = sandbox.seccomp_program(1234, "x86_64", unix_sockets=False)
    assert run(closed, nr["socket"], (1, 1)) == eafnosupport
    assert run(closed, nr["socketpair"], (1, 1)) == allow
    assert run(prog, nr["read"] if "read" in nr else 0) == allow
