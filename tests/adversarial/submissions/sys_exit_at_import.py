"""Adversarial: sys.exit(0) while being imported"""
import sys

import torch

sys.exit(0)

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
