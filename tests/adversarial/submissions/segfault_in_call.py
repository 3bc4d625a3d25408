"""Adversarial: correct, but relu_forward segfaults"""
import faulthandler

import torch

# <a correct solution, inserted by tests/test_adversarial.py>

def relu_forward(x):
    faulthandler._sigsegv()
