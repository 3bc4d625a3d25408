"""Adversarial: reach ctypes through numpy (np.ctypeslib.ctypes) and switch torch's record
functions off in C++ (at::enableRecordFunction) around the forbidden ops, back on before
returning, so that the native op recorder's own check finds it live again."""
import os

import numpy as np
import torch

_c = np.ctypeslib.ctypes
_lib = _c.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
_enable = _lib._ZN2at20enableRecordFunctionEb
_enable.argtypes = [_c.c_bool]


def _quietly(f, *args):
    _enable(False)
    try:
        return f(*args)
    finally:
        _enable(True)


# <a correct solution, inserted by tests/e2e/test_adversarial.py>


def relu_forward(x):  # noqa: F811 - replaces the correct one above
    return _quietly(torch.relu, x), x > 0


def sigmoid_forward(x):  # noqa: F811
    s = _quietly(torch.sigmoid, x)
    return s, s
