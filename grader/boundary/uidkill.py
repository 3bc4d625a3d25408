"""The uid killer: a small root process that ends everything a worker's uid runs.

A worker may leave processes behind (daemons, setsid groups) that its process group does
not reach. What reaches them all is kill(-1) from a process that has become the worker's
uid. That process used to be forked from the fork server, which has imported torch: a
copy of its page tables and their teardown, 15-18 ms per kill here, twice per submission,
on the grading's critical path. The fork server starts this killer before it imports
torch, so each of its helpers is forked from a few MB of Python instead (about 1 ms).

Only the fork server holds the other end of its socket (workers close it right after
their fork), and it refuses any uid below the slot range, so it can only ever end worker
uids.
"""

from __future__ import annotations

import os
import signal
import socket
import struct

FIRST_UID = 64000
"""The lowest uid it will kill: grader.boundary.sandbox.SLOT_UID_BASE (a test holds the
two equal). This module imports nothing of the project: with grader.boundary.sandbox
loaded before the fork, each helper's fork took 1.8-2.5 ms here instead of 1.0."""
_REQUEST = struct.Struct("!I")


def start(close_fds: tuple[int, ...] = ()) -> socket.socket:
    """Fork the killer; return the caller's end of its socket. The child closes
    `close_fds` (the fork server's control socket: the trusted side must see it close when
    the fork server dies) and dies with its parent."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        try:
            ours.close()
            for fd in close_fds:
                os.close(fd)
            _die_with_parent()
            serve(theirs)
        finally:
            os._exit(0)
    theirs.close()
    return ours


def _die_with_parent() -> None:
    # sandbox.die_with_parent's twin, for the reason given at FIRST_UID.
    import ctypes

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def serve(sock: socket.socket) -> None:
    """Answer each 4-byte uid with one byte once every process of that uid (that a process
    of it may signal) has been sent SIGKILL: b"k", or b"!" for a uid out of range."""
    while True:
        data = _read(sock, _REQUEST.size)
        if data is None:
            return
        (uid,) = _REQUEST.unpack(data)
        if uid < FIRST_UID:
            sock.sendall(b"!")
            continue
        kill_uid(uid)
        sock.sendall(b"k")


def _read(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def kill_uid(uid: int) -> None:
    """kill(-1) from a helper that has become `uid`, waited for."""
    helper = os.fork()
    if helper == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)  # everything this uid may signal, but the helper
        finally:
            os._exit(0)
    try:
        os.waitpid(helper, 0)
    except ChildProcessError:  # reaped already (the fork server's SIGCHLD handler)
        pass


def request(sock: socket.socket, uid: int) -> None:
    """Have the killer end `uid`'s processes; returns when it has. Raises OSError when the
    killer is gone or refused the uid."""
    sock.sendall(_REQUEST.pack(uid))
    answer = sock.recv(1)
    if answer != b"k":
        raise OSError(f"the uid killer {'refused' if answer else 'is gone'} (uid {uid})")
