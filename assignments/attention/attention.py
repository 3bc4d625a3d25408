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
    # Hint: scores with one batched matmul (k.transpose(-2, -1)); masked scores become -inf;
    # Hint: stable softmax along the last dimension: subtract the row max before exp();
    # Hint: a fully masked row has max -inf: replace it so that its weights come out 0.
    raise NotImplementedError("attention_forward")


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
    # Hint: four batched matmuls and the softmax backward; do not modify the cache.
    raise NotImplementedError("attention_backward")


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
    # Hint: project, reshape (N, T, Dm) -> (N, H, T, Dh) with reshape + transpose, and call
    # Hint: attention_forward once for all heads; give a 3-D mask a head dimension.
    raise NotImplementedError("multihead_attention_forward")


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
    # Hint: weight gradients sum over batch and positions: flatten (N, T, Dm) to (N*T, Dm).
    raise NotImplementedError("multihead_attention_backward")


def causal_mask(L, S=None, device=None):
    """Causal mask: query i may attend key j when j <= i (keys aligned at the top left).

    Args:
        L: number of queries.  S: number of keys (default L).
        device: where to create the mask (default: the CPU).
    Returns:
        mask: (L, S) bool, mask[i, j] = (j <= i).
    """
    # Hint: compare a column of query indices with a row of key indices (broadcasting).
    raise NotImplementedError("causal_mask")


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
    # Hint: an outer product of positions (T, 1) and frequencies (Dm/2,) gives every angle;
    # Hint: interleave sin and cos with torch.stack(..., dim=-1) and a reshape.
    raise NotImplementedError("positional_encoding")
