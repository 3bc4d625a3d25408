"""Adversarial: ignore SIGTERM, SIGINT, SIGHUP, SIGALRM, then spin at import"""
import signal

import torch

for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM, signal.SIGUSR1):
    signal.signal(_s, signal.SIG_IGN)
while True:
    pass

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
