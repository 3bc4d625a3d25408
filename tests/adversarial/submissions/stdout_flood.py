"""Adversarial: write 200 MB to stdout at import and 5 MB to stderr in every relu_forward call, then behave"""
import sys

import torch

_line = "x" * 1023 + "\n"
for _ in range(200 * 1024):
    sys.stdout.write(_line)
sys.stdout.flush()

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

_relu = relu_forward


def relu_forward(x):
    sys.stderr.write("y" * (5 * 1024 * 1024))
    return _relu(x)
