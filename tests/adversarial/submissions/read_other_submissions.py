"""Adversarial: look for other students' backprop.py files and run the first correct-looking one"""
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


_NS = {}
for _root in list(_roots()) + ["/tmp", ".."]:
    if _root in ("/", "/usr", "/proc") or _root.startswith(("/usr/", "/proc/", "/sys")):
        continue
    for _d, _dirs, _files in os.walk(_root):
        _dirs[:] = [x for x in _dirs if x not in ("site-packages", ".venv", ".git")]
        if "backprop.py" in _files and os.path.abspath(_d) != os.getcwd():
            try:
                with open(os.path.join(_d, "backprop.py")) as _f:
                    _src = _f.read()
                if "raise NotImplementedError" not in _src and "Adversarial" not in _src:
                    _NS = {}
                    exec(compile(_src, "other", "exec"), _NS)
                    break
            except Exception:
                _NS = {}
    if _NS:
        break

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

for _n in ("linear_forward", "linear_backward", "relu_forward", "relu_backward",
           "sigmoid_forward", "sigmoid_backward", "softmax_cross_entropy", "mse_loss",
           "mlp_loss"):
    if _n in _NS:
        globals()[_n] = _NS[_n]
