"""Adversarial: raise KeyboardInterrupt while being imported"""
import torch

raise KeyboardInterrupt

# <a correct solution, inserted by tests/test_adversarial.py>
