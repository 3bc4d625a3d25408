"""Adversarial: loop forever while being imported"""
import torch

while True:
    pass

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
