"""Adversarial: a correct submission whose id shadows a module name."""
import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
