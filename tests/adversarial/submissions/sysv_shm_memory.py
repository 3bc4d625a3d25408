"""Adversarial: at import, fill 2 GB of SysV shared memory (not in its resident size, so the
memory watch never saw it) and a POSIX message queue, then behave"""
import ctypes

import torch

_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = ctypes.c_void_p
for _i in range(4):
    _id = _libc.shmget(0x5D1C0 + _i, 512 * 1024 * 1024, 0o1600)  # IPC_CREAT | 0600
    if _id >= 0:
        _p = _libc.shmat(_id, None, 0)
        if _p not in (None, ctypes.c_void_p(-1).value):
            ctypes.memset(_p, 1, 512 * 1024 * 1024)
            _libc.shmdt(ctypes.c_void_p(_p))
_libc.mq_open(b"/dlgrade-adv", 0o100 | 0o2, 0o600, None)  # O_CREAT | O_RDWR

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
