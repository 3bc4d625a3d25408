"""Adversarial: correct, next to files named like modules that would break it if loaded."""
import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
