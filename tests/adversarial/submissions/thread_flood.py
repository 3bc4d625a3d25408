"""Adversarial: start thousands of threads, then behave"""
import threading
import time

import torch

_threads = []
try:
    for _ in range(5000):
        _t = threading.Thread(target=time.sleep, args=(1000,), daemon=True)
        _t.start()
        _threads.append(_t)
except (RuntimeError, OSError, MemoryError):
    pass

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
