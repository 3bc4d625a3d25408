"""A correct submission with different float32 rounding: the softmax in the log domain
(p = exp(s - m - log(sum exp(s - m)))), masked keys removed with a multiplicative 0/1
mask and a finite fill value, the backward's dscores written as p*dP - p*(p.dP), weight
gradients through einsum over flattened rows, and the positional encoding's angles as
exp(log t - 2i ln(10000)/Dm) in the requested dtype."""

import math

import torch


def attention_forward(q, k, v, mask=None):
    E = q.shape[-1]
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(E)
    if mask is not None:
        keep = mask.to(scores.dtype).expand_as(scores)
        filled = torch.where(keep > 0, scores, torch.full_like(scores, -1e30))
    else:
        keep = torch.ones_like(scores)
        filled = scores
    m = filled.amax(dim=-1, keepdim=True)
    shifted = filled - m
    log_norm = torch.log((torch.exp(shifted) * keep).sum(dim=-1, keepdim=True).clamp_min(1.0))
    p = torch.exp(shifted - log_norm) * keep
    return p @ v, (q, k, v, p, E)


def attention_backward(dout, cache):
    q, k, v, p, E = cache
    dp = dout @ v.transpose(-2, -1)
    pdp = p * dp
    ds = pdp - p * pdp.sum(dim=-1, keepdim=True)
    r = 1.0 / math.sqrt(E)
    dq = (ds @ k) * r
    dk = (ds.transpose(-2, -1) @ q) * r
    dv = p.transpose(-2, -1) @ dout
    return dq, dk, dv


def _heads(x, H):
    N, T, Dm = x.shape
    return x.unflatten(-1, (H, Dm // H)).transpose(-3, -2)


def _unheads(x):
    return x.transpose(-3, -2).flatten(-2)


def multihead_attention_forward(xq, xkv, params, num_heads, mask=None):
    Q = torch.addmm(params["bq"], xq.flatten(0, 1), params["Wq"]).view(xq.shape)
    K = torch.addmm(params["bk"], xkv.flatten(0, 1), params["Wk"]).view(xkv.shape)
    V = torch.addmm(params["bv"], xkv.flatten(0, 1), params["Wv"]).view(xkv.shape)
    if mask is not None:
        while mask.dim() < 3:
            mask = mask.unsqueeze(0)
        mask = mask.unsqueeze(1)
    o, ac = attention_forward(_heads(Q, num_heads), _heads(K, num_heads),
                              _heads(V, num_heads), mask)
    concat = _unheads(o)
    out = torch.addmm(params["bo"], concat.flatten(0, 1), params["Wo"]).view(concat.shape)
    return out, (xq, xkv, params, num_heads, ac, concat)


def multihead_attention_backward(dout, cache):
    xq, xkv, params, H, ac, concat = cache
    g = {}
    g["Wo"] = torch.einsum("ti,tj->ij", concat.flatten(0, 1), dout.flatten(0, 1))
    g["bo"] = dout.flatten(0, 1).sum(0)
    dc = dout @ params["Wo"].transpose(0, 1)
    dQ, dK, dV = (_unheads(d) for d in attention_backward(_heads(dc, H), ac))
    for name, x, d in (("q", xq, dQ), ("k", xkv, dK), ("v", xkv, dV)):
        g["W" + name] = torch.einsum("ti,tj->ij", x.flatten(0, 1), d.flatten(0, 1))
        g["b" + name] = d.flatten(0, 1).sum(0)
    dxq = dQ @ params["Wq"].transpose(0, 1)
    dxkv = dK @ params["Wk"].transpose(0, 1)
    dxkv = dxkv + dV @ params["Wv"].transpose(0, 1)
    return dxq, dxkv, g


def causal_mask(L, S=None, device=None):
    S = L if S is None else S
    return torch.triu(torch.ones(L, S, dtype=torch.bool, device=device), diagonal=1).logical_not()


def positional_encoding(T, Dm, device=None, dtype=torch.float32):
    t = torch.arange(T, device=device).to(dtype)[:, None]
    i2 = torch.arange(0, Dm, 2, device=device).to(dtype)[None, :]
    angle = torch.exp(torch.log(t) - i2 * (math.log(10000.0) / Dm))  # log(0) = -inf -> 0
    return torch.cat([angle.sin().unsqueeze(-1), angle.cos().unsqueeze(-1)], -1).view(T, Dm)
