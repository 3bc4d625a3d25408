"""Adversarial: patch time.perf_counter, time.time and monotonic to freeze the clocks, then behave"""
import time

import torch

time.perf_counter = lambda: 0.0
time.perf_counter_ns = lambda: 0
time.time = lambda: 0.0
time.monotonic = lambda: 0.0
time.monotonic_ns = lambda: 0

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
