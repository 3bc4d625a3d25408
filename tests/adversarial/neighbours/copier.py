"""Adversarial (neighbours): computes nothing. Every function asks the neighbour over its
abstract unix socket; it reports in the answer's absence whether the neighbour's SysV
segment was reachable (its honest score is 0)."""
import ctypes
import io
import socket
import time

import torch

_libc = ctypes.CDLL(None, use_errno=True)


def _ask(fn, *args):
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        try:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect("\0dlgrade-collude")
            buf = io.BytesIO()
            torch.save((fn, args), buf)
            c.sendall(buf.getvalue() + b"<END>")
            c.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := c.recv(1 << 20):
                data += chunk
            return torch.load(io.BytesIO(data))
        except OSError:
            time.sleep(0.1)
    seen = _libc.shmget(0x0C0FFEE, 0, 0) >= 0
    raise RuntimeError(f"no neighbour answered (its SysV segment {'WAS' if seen else 'was not'} "
                       "reachable)")


def _proxy(name):
    def call(*args):
        return _ask(name, *args)
    call.__name__ = name
    return call


for _fn in ("linear_forward", "linear_backward", "relu_forward", "relu_backward",
            "sigmoid_forward", "sigmoid_backward", "softmax_cross_entropy", "mse_loss",
            "mlp_loss"):
    globals()[_fn] = _proxy(_fn)
