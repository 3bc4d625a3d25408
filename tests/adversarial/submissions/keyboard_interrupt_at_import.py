"""Adversarial: raise KeyboardInterrupt while being imported"""
import torch

raise KeyboardInterrupt

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
