"""Adversarial: correct, but sigmoid_forward loops forever"""
import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

def sigmoid_forward(x):
    while True:
        pass
