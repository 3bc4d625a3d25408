"""Adversarial: correct, but relu_forward calls os._exit(0)"""
import os

import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

def relu_forward(x):
    os._exit(0)
