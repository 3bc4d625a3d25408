"""Correct values, written the slow way: Python loops over the flattened batch, the heads
and the query rows (one row's softmax at a time). Full correctness points; used to
calibrate performance tests."""

import math

import torch


def _row_softmax(s, keep):
    """Softmax of one row of scores over the keys where keep is True; 0 if none."""
    p = torch.zeros_like(s)
    if bool(keep.any()):
        kept = s[keep]
        e = torch.exp(kept - kept.max())
        p[keep] = e / e.sum()
    return p


def attention_forward(q, k, v, mask=None):
    *batch, L, E = q.shape
    S, Ev = k.shape[-2], v.shape[-1]
    full = torch.ones(*batch, L, S, dtype=torch.bool, device=q.device)
    keep = full if mask is None else mask.expand(*batch, L, S)
    qf, kf, vf = q.reshape(-1, L, E), k.reshape(-1, S, E), v.reshape(-1, S, Ev)
    keepf = keep.reshape(-1, L, S)
    out = torch.zeros(qf.shape[0], L, Ev, dtype=q.dtype, device=q.device)
    p = torch.zeros(qf.shape[0], L, S, dtype=q.dtype, device=q.device)
    for b in range(qf.shape[0]):
        for i in range(L):
            s = (kf[b] @ qf[b, i]) / math.sqrt(E)
            p[b, i] = _row_softmax(s, keepf[b, i])
            out[b, i] = p[b, i] @ vf[b]
    return out.reshape(*batch, L, Ev), (q, k, v, p)


def attention_backward(dout, cache):
    q, k, v, p = cache
    *batch, L, E = q.shape
    S, Ev = k.shape[-2], v.shape[-1]
    qf, kf, vf = q.reshape(-1, L, E), k.reshape(-1, S, E), v.reshape(-1, S, Ev)
    df = dout.reshape(-1, L, Ev)
    dq, dk, dv = torch.zeros_like(qf), torch.zeros_like(kf), torch.zeros_like(vf)
    for b in range(qf.shape[0]):
        for i in range(L):
            pi = p[b, i]
            dv[b] += torch.outer(pi, df[b, i])
            dpi = vf[b] @ df[b, i]
            ds = pi * (dpi - (pi * dpi).sum()) / math.sqrt(E)
            dq[b, i] = ds @ kf[b]
            dk[b] += torch.outer(ds, qf[b, i])
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
    grads = {"Wo": torch.zeros_like(params["Wo"]), "Wq": torch.zeros_like(params["Wq"]),
             "Wk": torch.zeros_like(params["Wk"]), "Wv": torch.zeros_like(params["Wv"])}
    for n in range(N):
        grads["Wo"] += concat[n].T @ dout[n]
        grads["Wq"] += xq[n].T @ dQ[n]
        grads["Wk"] += xkv[n].T @ dK[n]
        grads["Wv"] += xkv[n].T @ dV[n]
    grads["bo"] = dout.sum(dim=(0, 1))
    grads["bq"] = dQ.sum(dim=(0, 1))
    grads["bk"] = dK.sum(dim=(0, 1))
    grads["bv"] = dV.sum(dim=(0, 1))
    dxq = dQ @ params["Wq"].T
    dxkv = dK @ params["Wk"].T + dV @ params["Wv"].T
    return dxq, dxkv, grads


def causal_mask(L, S=None, device=None):
    S = L if S is None else S
    mask = torch.zeros(L, S, dtype=torch.bool, device=device)
    for i in range(L):
        mask[i, : min(i + 1, S)] = True
    return mask


def positional_encoding(T, Dm, device=None, dtype=torch.float32):
    pe = torch.zeros(T, Dm, dtype=dtype, device=device)
    for i in range(0, Dm, 2):
        angle = torch.arange(T, device=device, dtype=dtype) / 10000.0 ** (i / Dm)
        pe[:, i] = torch.sin(angle)
        pe[:, i + 1] = torch.cos(angle)
    return pe
