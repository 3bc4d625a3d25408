"""Adversarial: touch ever more memory while being imported"""
_hog = []
while True:
    _hog.append(b'x' * (64 * 1024 * 1024))

# <a correct solution, inserted by tests/e2e/test_adversarial.py>
