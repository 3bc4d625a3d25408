"""Adversarial (neighbours): a correct solution that also serves its answers to a neighbour:
it publishes the public answers it computes in SysV shared memory, and answers any call a
neighbour sends over an abstract unix socket (a thread, started at import)."""
import ctypes
import io
import socket
import threading

import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = ctypes.c_void_p
SHM_KEY, SHM_SIZE, NAME = 0x0C0FFEE, 1 << 20, "\0dlgrade-collude"


def _serve():
    try:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(NAME)
        srv.listen(8)
    except OSError:
        return
    while True:
        conn, _ = srv.accept()
        try:
            data = b""
            while not data.endswith(b"<END>"):
                chunk = conn.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
            fn, args = torch.load(io.BytesIO(data[:-5]))
            buf = io.BytesIO()
            torch.save(globals()[fn](*args), buf)
            conn.sendall(buf.getvalue())
        except Exception:  # noqa: BLE001
            pass
        finally:
            conn.close()


threading.Thread(target=_serve, daemon=True).start()

_shm = _libc.shmget(SHM_KEY, SHM_SIZE, 0o1666)
if _shm >= 0:
    _addr = _libc.shmat(_shm, None, 0)
    if _addr not in (None, ctypes.c_void_p(-1).value):
        ctypes.memmove(_addr, b"PROVIDER-WAS-HERE", 17)
