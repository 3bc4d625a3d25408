"""Adversarial: correct, but relu_forward raises with a lone surrogate in its message (once
made writing feedback.txt raise and stopped the class run)"""
import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

def relu_forward(x):
    raise ValueError("bad byte \udcff here")
