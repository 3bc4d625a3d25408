"""Adversarial: correct, but relu_forward segfaults"""
import faulthandler

import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

def relu_forward(x):
    faulthandler._sigsegv()
