"""Adversarial: correct, but linear_forward calls sys.exit(0)"""
import sys

import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

_linear = linear_forward


def linear_forward(x, w, b):
    sys.exit(0)
