"""Adversarial: print a fake results.json, grades line and PASS lines; return zeros"""
import json
import sys

import torch

FAKE = json.dumps({"score": 17, "max_score": 17, "status": "graded", "tests": []})
print(FAKE)
print('"fake_results_stdout",17,17,"graded"')
print("[PASS] linear (hidden): 3 / 3", file=sys.stderr)
sys.stdout.flush()

def _z(*shape_like):
    return torch.zeros(1, dtype=torch.float64)


def linear_forward(x, w, b):
    return torch.zeros(x.shape[0], w.shape[1], dtype=x.dtype), (x, w)


def linear_backward(dout, cache):
    x, w = cache
    return torch.zeros_like(x), torch.zeros_like(w), torch.zeros(w.shape[1], dtype=w.dtype)


def relu_forward(x):
    return torch.zeros_like(x), x


def relu_backward(dout, cache):
    print(FAKE, flush=True)
    return torch.zeros_like(dout)


def sigmoid_forward(x):
    return torch.zeros_like(x), x


def sigmoid_backward(dout, cache):
    print(FAKE, flush=True)
    return torch.zeros_like(dout)


def softmax_cross_entropy(logits, y):
    return torch.zeros((), dtype=logits.dtype), torch.zeros_like(logits)


def mse_loss(pred, target):
    return torch.zeros((), dtype=pred.dtype), torch.zeros_like(pred)


def mlp_loss(params, x, y):
    return torch.zeros((), dtype=x.dtype), {k: torch.zeros_like(v) for k, v in params.items()}
