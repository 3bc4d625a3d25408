"""Scaled dot-product attention, multi-head attention, masks and positional encoding.

Shape letters:
    B...  any number of batch dimensions (zero or more), the same for q, k and v
    L     number of queries          S   number of keys (= number of values)
    E     query/key size             Ev  value size
    N     batch size                 H   number of heads
    Dm    model size (divisible by H; each head has size Dh = Dm / H)
    T     number of positions

Masks are bool tensors where True means "may attend" (PyTorch's convention). Everything
is plain tensor algebra: no autograd, no library softmax, no library attention.
"""

import torch


def attention_forward(q, k, v, mask=None):
    """Scaled dot-product attention: out = softmax(q @ k^T / sqrt(E)) @ v.

    scores[..., i, j] = q[..., i, :] . k[..., j, :] / sqrt(E)
    p[..., i, j]      = exp(scores[..., i, j] - m_i) / sum_j' exp(scores[..., i, j'] - m_i)
                        over the keys j that query i may attend (mask True); 0 elsewhere.
                        m_i = max_j scores[..., i, j] over those keys: subtracting it
                        changes nothing mathematically but keeps exp() from overflowing.
    out[..., i, :]    = sum_j p[..., i, j] v[..., j, :]
    A query row whose mask is all False gets p = 0, so out = 0 (not NaN).

    Args:
        q: (B..., L, E) queries.  k: (B..., S, E) keys.  v: (B..., S, Ev) values.
        mask: None, or a bool tensor broadcastable to (B..., L, S) with at most as many
            dimensions; True where query i may attend key j.
    Returns:
        out: (B..., L, Ev).  cache: whatever attention_backward needs.
    """
    # BEGIN SOLUTION
    # HINT: scores with one batched matmul (k.transpose(-2, -1)); masked scores become -inf;
    # HINT: stable softmax along the last dimension: subtract the row max before exp();
    # HINT: a fully masked row has max -inf: replace it so that its weights come out 0.
    scale = q.shape[-1] ** -0.5  # 1 / sqrt(E)
    scores = (q @ k.transpose(-2, -1)) * scale  # (B..., L, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # (B..., L, S)
    m = scores.amax(dim=-1, keepdim=True)  # (B..., L, 1)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # fully masked rows: m = 0
    e = torch.exp(scores - m)  # (B..., L, S); exp(-inf) = 0 at masked keys
    denom = e.sum(dim=-1, keepdim=True)  # (B..., L, 1); >= 1 unless the row is fully masked
    denom = torch.where(denom > 0, denom, torch.ones_like(denom))  # fully masked: 0 / 1 = 0
    p = e / denom  # (B..., L, S)
    out = p @ v  # (B..., L, Ev)
    return out, (q, k, v, p, scale)
    # END SOLUTION


def attention_backward(dout, cache):
    """Backward pass of attention_forward.

    With P = softmax(scores) (the attention weights) and dP = dout @ v^T:
        dv      = P^T @ dout
        dscores = P * (dP - rowsum(P * dP))     (the softmax backward, row by row:
                  dscores_j = sum_l dP_l dp_l/ds_j = p_j (dP_j - sum_l p_l dP_l))
        dq      = dscores @ k / sqrt(E)
        dk      = dscores^T @ q / sqrt(E)
    Masked keys and fully masked rows have P = 0, so they get dscores = 0: no gradient.

    Args:
        dout: (B..., L, Ev) upstream gradient.  cache: from attention_forward.
    Returns:
        dq: (B..., L, E).  dk: (B..., S, E).  dv: (B..., S, Ev).
    """
    # BEGIN SOLUTION
    # HINT: four batched matmuls and the softmax backward; do not modify the cache.
    q, k, v, p, scale = cache
    dv = p.transpose(-2, -1) @ dout  # (B..., S, Ev)
    dp = dout @ v.transpose(-2, -1)  # (B..., L, S)
    ds = p * (dp - (p * dp).sum(dim=-1, keepdim=True))  # (B..., L, S)
    dq = (ds @ k) * scale  # (B..., L, E)
    dk = (ds.transpose(-2, -1) @ q) * scale  # (B..., S, E)
    return dq, dk, dv
    # END SOLUTION


# BEGIN SOLUTION
def _split_heads(x, num_heads):
    """(N, T, Dm) -> (N, H, T, Dh): head h takes columns h*Dh to (h+1)*Dh."""
    N, T, Dm = x.shape
    return x.reshape(N, T, num_heads, Dm // num_heads).transpose(1, 2)  # (N, H, T, Dh)


def _merge_heads(x):
    """(N, H, T, Dh) -> (N, T, Dm): the inverse of _split_heads (heads side by side)."""
    N, H, T, Dh = x.shape
    return x.transpose(1, 2).reshape(N, T, H * Dh)  # (N, T, Dm)
# END SOLUTION


def multihead_attention_forward(xq, xkv, params, num_heads, mask=None):
    """Multi-head attention: H scaled dot-product attentions side by side.

    Q = xq @ Wq + bq,  K = xkv @ Wk + bk,  V = xkv @ Wv + bv       (N, L or S, Dm)
    head h uses columns h*Dh to (h+1)*Dh of Q, K and V (Dh = Dm / H):
        head_h = attention(Q_h, K_h, V_h, mask)                   (N, L, Dh)
    out = concat(head_1, ..., head_H) @ Wo + bo                    (N, L, Dm)
    Every head uses the same mask. A fully masked query row outputs bo.

    Args:
        xq: (N, L, Dm) the sequence that asks (queries).
        xkv: (N, S, Dm) the sequence attended to (keys and values); the same tensor as
            xq for self-attention.
        params: dict with Wq, Wk, Wv, Wo (Dm, Dm) and bq, bk, bv, bo (Dm,).
        num_heads: H, which divides Dm.
        mask: None, or a bool tensor broadcastable to (N, L, S); True = may attend.
    Returns:
        out: (N, L, Dm).  cache: whatever multihead_attention_backward needs.
    """
    # BEGIN SOLUTION
    # HINT: project, reshape (N, T, Dm) -> (N, H, T, Dh) with reshape + transpose, and call
    # HINT: attention_forward once for all heads; give a 3-D mask a head dimension.
    Q = xq @ params["Wq"] + params["bq"]  # (N, L, Dm)
    K = xkv @ params["Wk"] + params["bk"]  # (N, S, Dm)
    V = xkv @ params["Wv"] + params["bv"]  # (N, S, Dm)
    if mask is not None and mask.dim() == 3:
        mask = mask.unsqueeze(-3)  # (N or 1, 1, L or 1, S): the same for every head
    heads, attn_cache = attention_forward(_split_heads(Q, num_heads), _split_heads(K, num_heads),
                                          _split_heads(V, num_heads), mask)  # (N, H, L, Dh)
    concat = _merge_heads(heads)  # (N, L, Dm)
    out = concat @ params["Wo"] + params["bo"]  # (N, L, Dm)
    return out, (xq, xkv, params, num_heads, attn_cache, concat)
    # END SOLUTION


def multihead_attention_backward(dout, cache):
    """Backward pass of multihead_attention_forward.

    dWo = concat^T @ dout (summed over N and L),  dbo = sum of dout over N and L
    dconcat = dout @ Wo^T, split into heads -> attention_backward -> dQ, dK, dV (merged)
    dWq = xq^T @ dQ,  dbq = sum of dQ;  likewise K, V with xkv
    dxq = dQ @ Wq^T;  dxkv = dK @ Wk^T + dV @ Wv^T (xkv feeds both keys and values)
    For self-attention (xq is xkv) the caller adds dxq and dxkv.

    Args:
        dout: (N, L, Dm) upstream gradient.  cache: from multihead_attention_forward.
    Returns:
        dxq: (N, L, Dm).  dxkv: (N, S, Dm).
        grads: dict with the keys of params: dWq, dWk, dWv, dWo (Dm, Dm) and
            dbq, dbk, dbv, dbo (Dm,), under the names Wq, Wk, ..., bo.
    """
    # BEGIN SOLUTION
    # HINT: weight gradients sum over batch and positions: flatten (N, T, Dm) to (N*T, Dm).
    xq, xkv, params, num_heads, attn_cache, concat = cache
    Dm = xq.shape[-1]
    dconcat = dout @ params["Wo"].T  # (N, L, Dm)
    dQh, dKh, dVh = attention_backward(_split_heads(dconcat, num_heads), attn_cache)
    dQ, dK, dV = _merge_heads(dQh), _merge_heads(dKh), _merge_heads(dVh)  # (N, L|S|S, Dm)
    xq2, xkv2 = xq.reshape(-1, Dm), xkv.reshape(-1, Dm)  # (N*L, Dm), (N*S, Dm)
    grads = {
        "Wq": xq2.T @ dQ.reshape(-1, Dm),  # (Dm, Dm)
        "Wk": xkv2.T @ dK.reshape(-1, Dm),  # (Dm, Dm)
        "Wv": xkv2.T @ dV.reshape(-1, Dm),  # (Dm, Dm)
        "Wo": concat.reshape(-1, Dm).T @ dout.reshape(-1, Dm),  # (Dm, Dm)
        "bq": dQ.sum(dim=(0, 1)),  # (Dm,)
        "bk": dK.sum(dim=(0, 1)),  # (Dm,); 0 in exact arithmetic (softmax ignores shifts)
        "bv": dV.sum(dim=(0, 1)),  # (Dm,)
        "bo": dout.sum(dim=(0, 1)),  # (Dm,)
    }
    dxq = dQ @ params["Wq"].T  # (N, L, Dm)
    dxkv = dK @ params["Wk"].T + dV @ params["Wv"].T  # (N, S, Dm)
    return dxq, dxkv, grads
    # END SOLUTION


def causal_mask(L, S=None, device=None):
    """Causal mask: query i may attend key j when j <= i (keys aligned at the top left).

    Args:
        L: number of queries.  S: number of keys (default L).
        device: where to create the mask (default: the CPU).
    Returns:
        mask: (L, S) bool, mask[i, j] = (j <= i).
    """
    # BEGIN SOLUTION
    # HINT: compare a column of query indices with a row of key indices (broadcasting).
    S = L if S is None else S
    i = torch.arange(L, device=device)[:, None]  # (L, 1)
    j = torch.arange(S, device=device)[None, :]  # (1, S)
    return j <= i  # (L, S)
    # END SOLUTION


def positional_encoding(T, Dm, device=None, dtype=torch.float32):
    """Sinusoidal positional encoding ("Attention Is All You Need").

    pe[t, 2i]   = sin(t / 10000^(2i/Dm))
    pe[t, 2i+1] = cos(t / 10000^(2i/Dm))        for t < T and 2i < Dm (Dm even)

    Args:
        T: number of positions.  Dm: model size (even).
        device: where to create it (default: the CPU).  dtype: floating dtype of pe.
    Returns:
        pe: (T, Dm) of dtype `dtype`.
    """
    # BEGIN SOLUTION
    # HINT: an outer product of positions (T, 1) and frequencies (Dm/2,) gives every angle;
    # HINT: interleave sin and cos with torch.stack(..., dim=-1) and a reshape.
    t = torch.arange(T, device=device, dtype=dtype)[:, None]  # (T, 1)
    two_i = torch.arange(0, Dm, 2, device=device, dtype=dtype)  # (Dm/2,)
    freq = 10000.0 ** (-two_i / Dm)  # (Dm/2,) = 1 / 10000^(2i/Dm)
    angle = t * freq  # (T, Dm/2)
    return torch.stack((torch.sin(angle), torch.cos(angle)), dim=-1).reshape(T, Dm)  # (T, Dm)
    # END SOLUTION
