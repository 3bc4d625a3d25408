"""Adversarial: SIGKILL its parent, pid 1 and its process group at import, then behave"""
import os
import signal

import torch

for _pid in (os.getppid(), 1, -os.getppid(), -1 * os.getpgid(os.getppid())):
    try:
        os.kill(_pid, signal.SIGKILL)
    except OSError:
        pass

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
