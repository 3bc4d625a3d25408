"""Adversarial (neighbours): computes nothing. Every function asks the neighbour over its
abstract unix socket; it reports in the answer's absence whether the neighbour's POSIX
shared memory was reachable (its honest score is 0)."""
import json
import socket
import time

import torch


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


def _ask(fn, *args):
    deadline = time.monotonic() + 0.1
    while time.monotonic() < deadline:
        try:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect("\0dlgrade-collude")
            c.sendall(json.dumps([fn, _pack(args)]).encode() + b"<END>")
            c.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := c.recv(1 << 20):
                data += chunk
            return _unpack(json.loads(data))
        except OSError:
            time.sleep(0.02)
    try:
        with open("/dev/shm/dlgrade-collude", "rb") as f:
            seen = f.read() == b"PROVIDER-WAS-HERE"
    except OSError:
        seen = False
    raise RuntimeError(f"no neighbour answered (its shared memory {'WAS' if seen else 'was not'} "
                       "reachable)")


def linear_forward(*args):
    return _ask("linear_forward", *args)


def linear_backward(*args):
    return _ask("linear_backward", *args)


def relu_forward(*args):
    return _ask("relu_forward", *args)


def relu_backward(*args):
    return _ask("relu_backward", *args)


def sigmoid_forward(*args):
    return _ask("sigmoid_forward", *args)


def sigmoid_backward(*args):
    return _ask("sigmoid_backward", *args)


def softmax_cross_entropy(*args):
    return _ask("softmax_cross_entropy", *args)


def mse_loss(*args):
    return _ask("mse_loss", *args)


def mlp_loss(*args):
    return _ask("mlp_loss", *args)
