"""Adversarial (issue 14, item 2): run the forbidden ops in a thread of its own (the op
recorder records the thread that runs the call only). Where no thread can start, it does
the same in the calling thread: the honest cost of using torch.relu and torch.sigmoid."""
import threading

import torch

_relu, _sig = (getattr(torch, "".join(map(chr, c))) for c in ((114, 101, 108, 117),
                                                              (115, 105, 103, 109, 111, 105, 100)))


def _elsewhere(f, *args):
    out = []
    try:
        t = threading.Thread(target=lambda: out.append(f(*args)))
        t.start()
        t.join()
    except RuntimeError:
        out.append(f(*args))
    return out[0]


# <a correct solution, inserted by tests/e2e/test_adversarial.py>


def relu_forward(x):  # noqa: F811 - replaces the correct one above
    return _elsewhere(_relu, x), x > 0


def sigmoid_forward(x):  # noqa: F811
    s = _elsewhere(_sig, x)
    return s, s
