"""Adversarial: fork without end while being imported (then keep the correct code)"""
import os

import torch

try:
    while True:
        if os.fork() == 0:
            while True:
                os.fork()
except OSError:
    pass

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
