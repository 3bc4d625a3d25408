"""A legitimate "mytorch"-style attention: Softmax, Linear, ScaledDotProductAttention and
MultiHeadAttention objects with forward/backward methods.

The softmax is the student's own class, held as `self.softmax = Softmax(dim=-1)`: the
static scan must not take that attribute for torch's softmax. Each API function builds
fresh objects and returns the top one as the cache.
"""

import math
from builtins import range  # noqa: F401, UP029 (the first line of many CS231n layers.py)

import torch


class Softmax:
    """Stable softmax along `dim`; a row with no allowed entry gives all zeros."""

    def __init__(self, dim=-1):
        self.dim = dim

    def forward(self, scores, mask=None):
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        m = scores.amax(dim=self.dim, keepdim=True)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        e = torch.exp(scores - m)
        total = e.sum(dim=self.dim, keepdim=True)
        self.out = e / torch.where(total > 0, total, torch.ones_like(total))
        return self.out

    def backward(self, dout):
        p = self.out
        return p * (dout - (p * dout).sum(dim=self.dim, keepdim=True))


class Linear:
    def forward(self, x, W, b):
        self.x, self.W = x, W
        return x @ W + b

    def backward(self, dout):
        Dm_in, Dm_out = self.W.shape
        dW = self.x.reshape(-1, Dm_in).T @ dout.reshape(-1, Dm_out)
        return dout @ self.W.T, dW, dout.reshape(-1, Dm_out).sum(dim=0)


class ScaledDotProductAttention:
    def __init__(self):
        self.softmax = Softmax(dim=-1)

    def forward(self, q, k, v, mask=None):
        self.q, self.k, self.v = q, k, v
        self.scale = 1.0 / math.sqrt(q.shape[-1])
        scores = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        self.attn = self.softmax.forward(scores, mask)
        return torch.matmul(self.attn, v)

    def backward(self, dout):
        dv = torch.matmul(self.attn.transpose(-2, -1), dout)
        dscores = self.softmax.backward(torch.matmul(dout, self.v.transpose(-2, -1)))
        dq = torch.matmul(dscores, self.k) * self.scale
        dk = torch.matmul(dscores.transpose(-2, -1), self.q) * self.scale
        return dq, dk, dv


class MultiHeadAttention:
    def __init__(self, params, num_heads):
        self.params, self.h = params, num_heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (
            Linear(), Linear(), Linear(), Linear())
        self.attention = ScaledDotProductAttention()

    def split(self, x):
        N, T, Dm = x.shape
        return x.reshape(N, T, self.h, Dm // self.h).transpose(1, 2)  # (N, H, T, Dh)

    def merge(self, x):
        N, H, T, Dh = x.shape
        return x.transpose(1, 2).reshape(N, T, H * Dh)  # (N, T, Dm)

    def forward(self, xq, xkv, mask=None):
        p = self.params
        Q = self.split(self.q_proj.forward(xq, p["Wq"], p["bq"]))
        K = self.split(self.k_proj.forward(xkv, p["Wk"], p["bk"]))
        V = self.split(self.v_proj.forward(xkv, p["Wv"], p["bv"]))
        if mask is not None and mask.dim() == 3:
            mask = mask[:, None]  # (N, 1, L, S): every head alike
        heads = self.attention.forward(Q, K, V, mask)
        return self.out_proj.forward(self.merge(heads), p["Wo"], p["bo"])

    def backward(self, dout):
        grads = {}
        dconcat, grads["Wo"], grads["bo"] = self.out_proj.backward(dout)
        dQ, dK, dV = self.attention.backward(self.split(dconcat))
        dxq, grads["Wq"], grads["bq"] = self.q_proj.backward(self.merge(dQ))
        dxk, grads["Wk"], grads["bk"] = self.k_proj.backward(self.merge(dK))
        dxv, grads["Wv"], grads["bv"] = self.v_proj.backward(self.merge(dV))
        return dxq, dxk + dxv, grads


def attention_forward(q, k, v, mask=None):
    layer = ScaledDotProductAttention()
    return layer.forward(q, k, v, mask), layer


def attention_backward(dout, cache):
    return cache.backward(dout)


def multihead_attention_forward(xq, xkv, params, num_heads, mask=None):
    layer = MultiHeadAttention(params, num_heads)
    return layer.forward(xq, xkv, mask), layer


def multihead_attention_backward(dout, cache):
    return cache.backward(dout)


def causal_mask(L, S=None, device=None):
    S = L if S is None else S
    return torch.ones(L, S, dtype=torch.bool, device=device).tril()


def positional_encoding(T, Dm, device=None, dtype=torch.float32):
    pos = torch.arange(T, device=device, dtype=dtype).unsqueeze(1)  # (T, 1)
    div = torch.exp(torch.arange(0, Dm, 2, device=device, dtype=dtype)
                    * (-math.log(10000.0) / Dm))  # (Dm/2,)
    pe = torch.zeros(T, Dm, device=device, dtype=dtype)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe
