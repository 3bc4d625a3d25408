"""Adversarial: write a 10 GB file and fill the disk with 64 MB files, then behave"""
import os

import torch

# One buffer for every write: the attack is the disk it fills, and every byte it writes
# lands in the worker's limits (64 MB a file, 256 MB its folder); allocating a buffer per
# file would only add page faults to the import (a slow machine took it past 6 s).
_chunk = b"\1" * (16 * 1024 * 1024)
try:
    with open("huge.bin", "wb") as _f:
        for _ in range(640):
            _f.write(_chunk)
except OSError:
    pass
for _i in range(200):
    try:
        with open(f"fill{_i}.bin", "wb") as _f:
            for _ in range(4):
                _f.write(_chunk)
    except OSError:
        break
for _p in ("/tmp/fill.bin", "/dev/shm/fill.bin"):
    try:
        with open(_p, "wb") as _f:
            for _ in range(4):
                _f.write(_chunk)
    except OSError:
        pass

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
