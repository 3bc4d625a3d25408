"""Adversarial: correct, but mse_loss calls os.abort()"""
import os

import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

def mse_loss(pred, target):
    os.abort()
