"""Adversarial: correct, but relu_forward writes its own reply frame on the worker's socket:
48 tensor entries naming one 64 MiB blob (the trusted side once decoded a copy per entry,
3.5 GB), then sends the blob"""
import json
import os
import stat
import struct

import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

def relu_forward(x):
    n = 64 * 1024 * 1024
    entries = [{"dtype": "uint8", "shape": [n], "blob": 0} for _ in range(48)]
    header = json.dumps({"seq": 1, "ok": True, "result": None, "tensors": entries,
                         "nblobs": 1}).encode()
    frame = struct.pack(">I", len(header)) + header + struct.pack(">Q", n)
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, frame)
                chunk = b"\0" * (1 << 20)
                for _ in range(64):
                    os.write(fd, chunk)
        except OSError:
            pass
    return x.clamp(min=0)
