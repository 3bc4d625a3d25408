"""Adversarial: correct, but relu_forward writes its own reply frame on the worker's socket:
48 tensor entries of 64 MiB each and 64 MiB of bytes (when entries named a shared blob, the
trusted side decoded a copy per entry, 3.5 GB); the table alone is refused now"""
import json
import os
import stat
import struct

import torch

# <a correct solution, inserted by tests/e2e/test_adversarial.py>

def relu_forward(x):
    n = 64 * 1024 * 1024
    entries = [["uint8", [n]] for _ in range(48)]
    header = json.dumps({"seq": 1, "ok": True, "result": None, "tensors": entries}).encode()
    frame = struct.pack(">I", len(header)) + header
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
