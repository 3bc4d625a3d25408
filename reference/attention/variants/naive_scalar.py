"""Correct values, written the slowest plausible way: one dot product per score, one
Python-level update per weight, one element at a time for the mask and the positional
encoding. It must keep every correctness point (the correctness tests are sized so that it
finishes well inside the per-call limit on a loaded 2-core machine) and lose the
performance points (issue 15)."""

import math

import torch


def _softmax_row(scores, keep):
    """A list of weights from a list of Python-float scores; 0 where keep is False."""
    kept = [s for s, ok in zip(scores, keep) if ok]
    if not kept:
        return [0.0] * len(scores)
    top = max(kept)
    e = [math.exp(s - top) if ok else 0.0 for s, ok in zip(scores, keep)]
    total = sum(e)
    return [x / total for x in e]


def _flat(q, k, v, mask):
    *batch, L, E = q.shape
    S, Ev = k.shape[-2], v.shape[-1]
    keep = (torch.ones(*batch, L, S, dtype=torch.bool, device=q.device) if mask is None
            else mask.expand(*batch, L, S))
    return (batch, L, S, E, Ev, q.reshape(-1, L, E), k.reshape(-1, S, E),
            v.reshape(-1, S, Ev), keep.reshape(-1, L, S).tolist())


def attention_forward(q, k, v, mask=None):
    batch, L, S, E, Ev, qf, kf, vf, keep = _flat(q, k, v, mask)
    scale = 1.0 / math.sqrt(E)
    out = torch.zeros(qf.shape[0], L, Ev, dtype=q.dtype, device=q.device)
    weights = []
    for b in range(qf.shape[0]):
        rows = []
        for i in range(L):
            scores = [float(torch.dot(qf[b, i], kf[b, j])) * scale for j in range(S)]
            p = _softmax_row(scores, keep[b][i])
            acc = torch.zeros(Ev, dtype=q.dtype, device=q.device)
            for j in range(S):
                if p[j] != 0.0:
                    acc = acc + p[j] * vf[b, j]
            out[b, i] = acc
            rows.append(p)
        weights.append(rows)
    return out.reshape(*batch, L, Ev), (q, k, v, weights)


def attention_backward(dout, cache):
    q, k, v, weights = cache
    batch, L, S, E, Ev, qf, kf, vf, _ = _flat(q, k, v, None)
    scale = 1.0 / math.sqrt(E)
    df = dout.reshape(-1, L, Ev)
    dq, dk, dv = torch.zeros_like(qf), torch.zeros_like(kf), torch.zeros_like(vf)
    for b in range(qf.shape[0]):
        for i in range(L):
            p = weights[b][i]
            dp = [float(torch.dot(df[b, i], vf[b, j])) for j in range(S)]
            mean = sum(pj * dpj for pj, dpj in zip(p, dp))
            for j in range(S):
                if p[j] == 0.0:
                    continue
                dv[b, j] += p[j] * df[b, i]
                ds = p[j] * (dp[j] - mean) * scale
                dq[b, i] += ds * kf[b, j]
                dk[b, j] += ds * qf[b, i]
    return dq.reshape(q.shape), dk.reshape(k.shape), dv.reshape(v.shape)


def multihead_attention_forward(xq, xkv, params, num_heads, mask=None):
    N, L, Dm = xq.shape
    S = xkv.shape[1]
    Dh = Dm // num_heads
    Q = xq @ params["Wq"] + params["bq"]
    K = xkv @ params["Wk"] + params["bk"]
    V = xkv @ params["Wv"] + params["bv"]
    m = None if mask is None else mask.expand(N, L, S)
    concat = torch.zeros(N, L, Dm, dtype=xq.dtype, device=xq.device)
    caches = []
    for n in range(N):
        for h in range(num_heads):
            cols = slice(h * Dh, (h + 1) * Dh)
            o, c = attention_forward(Q[n, :, cols], K[n, :, cols], V[n, :, cols],
                                     None if m is None else m[n])
            concat[n, :, cols] = o
            caches.append(c)
    out = concat @ params["Wo"] + params["bo"]
    return out, (xq, xkv, params, num_heads, caches, concat)


def multihead_attention_backward(dout, cache):
    xq, xkv, params, H, caches, concat = cache
    N, L, Dm = xq.shape
    Dh = Dm // H
    dconcat = dout @ params["Wo"].T
    dQ, dK, dV = torch.zeros_like(xq), torch.zeros_like(xkv), torch.zeros_like(xkv)
    for n in range(N):
        for h in range(H):
            cols = slice(h * Dh, (h + 1) * Dh)
            dq, dk, dv = attention_backward(dconcat[n, :, cols], caches[n * H + h])
            dQ[n, :, cols], dK[n, :, cols], dV[n, :, cols] = dq, dk, dv
    flat = lambda x: x.reshape(-1, x.shape[-1])  # noqa: E731
    grads = {"Wo": flat(concat).T @ flat(dout), "Wq": flat(xq).T @ flat(dQ),
             "Wk": flat(xkv).T @ flat(dK), "Wv": flat(xkv).T @ flat(dV),
             "bo": dout.sum(dim=(0, 1)), "bq": dQ.sum(dim=(0, 1)),
             "bk": dK.sum(dim=(0, 1)), "bv": dV.sum(dim=(0, 1))}
    dxq = dQ @ params["Wq"].T
    dxkv = dK @ params["Wk"].T + dV @ params["Wv"].T
    return dxq, dxkv, grads


def causal_mask(L, S=None, device=None):
    S = L if S is None else S
    mask = torch.zeros(L, S, dtype=torch.bool, device=device)
    for i in range(L):
        for j in range(S):
            if j <= i:
                mask[i, j] = True
    return mask


def positional_encoding(T, Dm, device=None, dtype=torch.float32):
    pe = torch.zeros(T, Dm, dtype=dtype, device=device)
    for t in range(T):
        for i in range(0, Dm, 2):
            angle = t / 10000.0 ** (i / Dm)
            pe[t, i] = math.sin(angle)
            pe[t, i + 1] = math.cos(angle)
    return pe
