"""Adversarial (neighbours): a correct solution that also serves a neighbour: it answers any
call sent over an abstract unix socket and leaves a POSIX shared memory segment for it. A
worker may start no thread, so it serves from a signal handler on an interval timer, which
runs whenever the worker waits for its next request. (SysV segments need ctypes, which the
static scan refuses; tests/boundary/test_sandbox.py tries them between two workers.)"""
import json
import signal
import socket

import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

def _pack(v):
    if isinstance(v, torch.Tensor):
        return {"t": v.tolist(), "d": str(v.dtype).split(".")[-1]}
    if isinstance(v, (tuple, list)):
        return {"s": [_pack(x) for x in v], "tuple": isinstance(v, tuple)}
    if isinstance(v, dict):
        return {"m": {k: _pack(x) for k, x in v.items()}}
    return {"v": v}


def _unpack(v):
    if "t" in v:
        return torch.tensor(v["t"], dtype=getattr(torch, v["d"]))
    if "s" in v:
        items = [_unpack(x) for x in v["s"]]
        return tuple(items) if v["tuple"] else items
    if "m" in v:
        return {k: _unpack(x) for k, x in v["m"].items()}
    return v["v"]


NAME = "\0dlgrade-collude"
_FUNCS = {f.__name__: f for f in (linear_forward, linear_backward, relu_forward,  # noqa: F821
                                   relu_backward, sigmoid_forward, sigmoid_backward,  # noqa: F821
                                   softmax_cross_entropy, mse_loss, mlp_loss)}  # noqa: F821


def _listen():
    try:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(NAME)
        srv.listen(8)
        srv.setblocking(False)
        return srv
    except OSError:
        return None


_SRV = _listen()


def _serve_one(signum, frame):
    try:
        conn, _ = _SRV.accept()
    except OSError:  # nobody asking (BlockingIOError)
        return
    try:
        conn.setblocking(True)
        conn.settimeout(1.0)
        data = b""
        while not data.endswith(b"<END>"):
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        fn, args = json.loads(data[:-5])
        conn.sendall(json.dumps(_pack(_FUNCS[fn](*_unpack(args)))).encode())
    except Exception:  # noqa: BLE001
        pass
    finally:
        conn.close()


if _SRV is not None:
    try:
        signal.signal(signal.SIGALRM, _serve_one)
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
    except (OSError, ValueError):
        pass

try:  # POSIX shared memory is a file in /dev/shm (what shm_open opens)
    with open("/dev/shm/dlgrade-collude", "wb") as _f:
        _f.write(b"PROVIDER-WAS-HERE")
except OSError:
    pass
