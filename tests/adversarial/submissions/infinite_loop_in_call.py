"""Adversarial: correct, but sigmoid_forward loops forever"""
import torch

# <a correct solution, inserted by tests/test_adversarial.py>

def sigmoid_forward(x):
    while True:
        pass
