"""Adversarial: os._exit(0) while being imported"""
import os

import torch

os._exit(0)

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
