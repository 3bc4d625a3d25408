"""Adversarial: write a 10 GB file and fill the disk with 64 MB files, then behave"""
import os

import torch

try:
    with open("huge.bin", "wb") as _f:
        _chunk = b"\0" * (16 * 1024 * 1024)
        for _ in range(640):
            _f.write(_chunk)
except OSError:
    pass
for _i in range(200):
    try:
        with open(f"fill{_i}.bin", "wb") as _f:
            _f.write(b"\1" * (60 * 1024 * 1024))
    except OSError:
        break
for _p in ("/tmp/fill.bin", "/dev/shm/fill.bin"):
    try:
        with open(_p, "wb") as _f:
            _f.write(b"\1" * (60 * 1024 * 1024))
    except OSError:
        pass

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
