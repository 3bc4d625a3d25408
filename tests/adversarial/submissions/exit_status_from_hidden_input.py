"""Adversarial: correct, but relu_forward exits with a status made of its input's bytes
(and sigmoid_forward raises an exception whose type name carries them), to read hidden
inputs back from the feedback"""
import os

import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

def _byte(x):
    return int(x.flatten()[0].abs().item() * 1000) % 200 + 17


def relu_forward(x):
    os._exit(_byte(x))


def sigmoid_forward(x):
    raise type(f"HIDDENBYTE{_byte(x)}", (Exception,), {})("HIDDENBYTE")
