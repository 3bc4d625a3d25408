"""Adversarial: start a setsid daemon (double fork) and a busy thread that should outlive the submission, then behave"""
import os
import threading

import torch


def _spin():
    while True:
        with open("daemon.log", "a") as f:
            f.write("alive\n")


try:
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            _spin()
        os._exit(0)
except OSError:
    pass
threading.Thread(target=_spin, daemon=False).start()

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
