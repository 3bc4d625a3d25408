"""Adversarial: try to raise its own resource limits and change uid, then behave"""
import os
import resource

import torch

for _r in (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE):
    try:
        resource.setrlimit(_r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass
for _f in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.chroot("/")):
    try:
        _f()
    except OSError:
        pass

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
