"""A correct submission in another style: masked_fill with -inf, the usual max-shifted
softmax, and NaN rows (fully masked: -inf - -inf) repaired afterwards with nan_to_num;
heads through a single (N, T, H, Dh) view and a batched einsum; positional encoding
computed in float64 and rounded once to the requested dtype."""

import torch


def _softmax_rows(scores):
    shifted = scores - scores.amax(dim=-1, keepdim=True)  # NaN rows where all are -inf
    e = shifted.exp()
    p = e / e.sum(dim=-1, keepdim=True)
    return torch.nan_to_num(p, nan=0.0)  # fully masked rows: weights 0


def attention_forward(q, k, v, mask=None):
    scores = torch.matmul(q, k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    p = _softmax_rows(scores)
    return torch.matmul(p, v), (q, k, v, p)


def attention_backward(dout, cache):
    q, k, v, p = cache
    scale = q.shape[-1] ** -0.5
    dv = torch.matmul(p.transpose(-1, -2), dout)
    dp = torch.matmul(dout, v.transpose(-1, -2))
    dscores = (dp - (dp * p).sum(-1, keepdim=True)) * p
    dq = torch.matmul(dscores * scale, k)
    dk = torch.matmul(dscores.transpose(-1, -2) * scale, q)
    return dq, dk, dv


def multihead_attention_forward(xq, xkv, params, num_heads, mask=None):
    N, L, Dm = xq.shape
    S = xkv.shape[1]
    Dh = Dm // num_heads
    Q = (xq @ params["Wq"] + params["bq"]).view(N, L, num_heads, Dh)
    K = (xkv @ params["Wk"] + params["bk"]).view(N, S, num_heads, Dh)
    V = (xkv @ params["Wv"] + params["bv"]).view(N, S, num_heads, Dh)
    scores = torch.einsum("nlhd,nshd->nhls", Q, K) / Dh ** 0.5
    if mask is not None:
        m = mask if mask.dim() < 3 else mask[:, None]
        scores = scores.masked_fill(~m, float("-inf"))
    p = _softmax_rows(scores)  # (N, H, L, S)
    heads = torch.einsum("nhls,nshd->nlhd", p, V)
    concat = heads.reshape(N, L, Dm)
    out = concat @ params["Wo"] + params["bo"]
    return out, (xq, xkv, params, Q, K, V, p, concat)


def multihead_attention_backward(dout, cache):
    xq, xkv, params, Q, K, V, p, concat = cache
    N, L, H, Dh = Q.shape
    S = K.shape[1]
    Dm = H * Dh
    dconcat = dout @ params["Wo"].t()
    dheads = dconcat.view(N, L, H, Dh)
    dV = torch.einsum("nhls,nlhd->nshd", p, dheads)
    dp = torch.einsum("nlhd,nshd->nhls", dheads, V)
    ds = p * (dp - (p * dp).sum(-1, keepdim=True)) / Dh ** 0.5
    dQ = torch.einsum("nhls,nshd->nlhd", ds, K).reshape(N, L, Dm)
    dK = torch.einsum("nhls,nlhd->nshd", ds, Q).reshape(N, S, Dm)
    dV = dV.reshape(N, S, Dm)
    flat_q, flat_kv = xq.reshape(N * L, Dm), xkv.reshape(N * S, Dm)
    grads = {
        "Wq": flat_q.t() @ dQ.reshape(N * L, Dm),
        "bq": dQ.sum((0, 1)),
        "Wk": flat_kv.t() @ dK.reshape(N * S, Dm),
        "bk": dK.sum((0, 1)),
        "Wv": flat_kv.t() @ dV.reshape(N * S, Dm),
        "bv": dV.sum((0, 1)),
        "Wo": concat.reshape(N * L, Dm).t() @ dout.reshape(N * L, Dm),
        "bo": dout.sum((0, 1)),
    }
    dxq = dQ @ params["Wq"].t()
    dxkv = dK @ params["Wk"].t() + dV @ params["Wv"].t()
    return dxq, dxkv, grads


def causal_mask(L, S=None, device=None):
    S = L if S is None else S
    rows = torch.arange(L, device=device).unsqueeze(1)
    cols = torch.arange(S, device=device).unsqueeze(0)
    return cols - rows <= 0


def positional_encoding(T, Dm, device=None, dtype=torch.float32):
    t = torch.arange(T, device=device, dtype=torch.float64).unsqueeze(1)
    i2 = torch.arange(0, Dm, 2, device=device, dtype=torch.float64)
    angle = t / torch.pow(torch.tensor(10000.0, dtype=torch.float64, device=device), i2 / Dm)
    pe = torch.empty(T, Dm // 2, 2, device=device, dtype=torch.float64)
    pe[..., 0] = angle.sin()
    pe[..., 1] = angle.cos()
    return pe.reshape(T, Dm).to(dtype)
