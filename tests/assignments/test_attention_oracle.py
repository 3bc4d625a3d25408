"""The attention reference against independent float64 oracles: PyTorch's own attention
(F.scaled_dot_product_attention, torch.nn.MultiheadAttention) with autograd gradients, and
the positional encoding's formula evaluated term by term with Python's math module.

The grader trusts the reference for every expected value, so the reference must be right
independently of the tests that use it.
"""

from __future__ import annotations

import importlib.util
import math
import zlib

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import ROOT

F64 = torch.float64


def _load_reference():
    path = ROOT / "reference" / "attention" / "attention.py"
    spec = importlib.util.spec_from_file_location("_attention_reference_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()


def _close(got, expected, what, atol=1e-11, rtol=1e-9):
    assert got.shape == expected.shape, f"{what}: {tuple(got.shape)} vs {tuple(expected.shape)}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype} vs {expected.dtype}"
    assert torch.isfinite(got).all(), f"{what}: non-finite values"
    torch.testing.assert_close(got, expected, atol=atol, rtol=rtol, msg=lambda m: f"{what}: {m}")


def oracle_attention(q, k, v, mask):
    """F.scaled_dot_product_attention, except that a fully masked query row gives 0 and no
    gradient (the API's rule; PyTorch gives NaN or 0 there depending on the version)."""
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v)
    scores_shape = (*q.shape[:-1], k.shape[-2])
    full = mask.expand(scores_shape)
    empty = ~full.any(dim=-1, keepdim=True)  # (B..., L, 1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=full | empty)
    return torch.where(empty, torch.zeros_like(out), out)


def _grads(fn, inputs, dout):
    leaves = [x.detach().clone().requires_grad_(True) for x in inputs]
    out = fn(*leaves)
    out.backward(dout)
    return out.detach(), [x.grad for x in leaves]


# (batch, L, S, E, Ev, mask shape or None or "causal")
ATTENTION_CASES = [
    ((), 5, 7, 4, 3, None),
    ((3,), 6, 4, 5, 7, None),
    ((2, 3), 4, 9, 6, 2, None),
    ((2,), 6, 6, 5, 3, "causal"),
    ((3,), 4, 7, 5, 3, "causal"),
    ((2, 2), 7, 3, 5, 3, "causal"),
    ((3,), 5, 6, 4, 6, (3, 5, 6)),
    ((3,), 5, 6, 4, 6, (5, 6)),
    ((3,), 5, 6, 4, 6, (1, 5, 6)),
    ((3,), 5, 6, 4, 6, (3, 1, 6)),
    ((2, 3), 4, 5, 3, 2, (3, 1, 5)),
    ((2, 3), 4, 5, 3, 2, (2, 3, 4, 5)),
]


# Every case as given, and every masked case again with a fully masked query row.
SDPA_CASES = [(c, False) for c in ATTENTION_CASES] + [
    (c, True) for c in ATTENTION_CASES if c[-1] is not None]


@pytest.mark.parametrize("case,fully_masked_rows", SDPA_CASES, ids=str)
def test_attention_matches_sdpa(case, fully_masked_rows):
    batch, L, S, E, Ev, mshape = case
    g = torch.Generator().manual_seed(zlib.crc32(str(case).encode()))
    q = torch.randn(*batch, L, E, generator=g, dtype=F64) * 1.5
    k = torch.randn(*batch, S, E, generator=g, dtype=F64) * 1.5
    v = torch.randn(*batch, S, Ev, generator=g, dtype=F64)
    if mshape == "causal":
        mask = ref.causal_mask(L, S)
    elif mshape is None:
        mask = None
    else:
        mask = torch.rand(mshape, generator=g) < 0.6
    if fully_masked_rows:
        mask = mask.clone()
        row = min(1, mask.shape[-2] - 1)  # a broadcast (..., 1, S) mask: every query
        mask[..., row, :] = False
    dout = torch.randn(*batch, L, Ev, generator=g, dtype=F64)
    exp_out, (dq_e, dk_e, dv_e) = _grads(lambda a, b, c: oracle_attention(a, b, c, mask),
                                         (q, k, v), dout)
    out, cache = ref.attention_forward(q, k, v, mask)
    dq, dk, dv = ref.attention_backward(dout, cache)
    _close(out, exp_out, "out")
    _close(dq, dq_e, "dq")
    _close(dk, dk_e, "dk")
    _close(dv, dv_e, "dv")
    if fully_masked_rows:
        assert (out[..., 1, :] == 0).all() and (dq[..., 1, :] == 0).all()
        if mask.shape[-2] == 1:
            assert (dk == 0).all() and (dv == 0).all()


def test_attention_stable_for_scores_of_1e4():
    g = torch.Generator().manual_seed(7)
    q = torch.randn(2, 5, 6, generator=g, dtype=F64) * 100
    k = torch.randn(2, 8, 6, generator=g, dtype=F64) * 100
    v = torch.randn(2, 8, 3, generator=g, dtype=F64)
    assert (q @ k.transpose(-2, -1) / math.sqrt(6)).abs().max() > 1e4
    dout = torch.randn(2, 5, 3, generator=g, dtype=F64)
    exp_out, exp_grads = _grads(lambda a, b, c: oracle_attention(a, b, c, None), (q, k, v),
                                dout)
    out, cache = ref.attention_forward(q, k, v)
    for got, exp, name in zip((out, *ref.attention_backward(dout, cache)),
                              (exp_out, *exp_grads), ("out", "dq", "dk", "dv")):
        _close(got, exp, name, atol=1e-9)


def test_attention_does_not_modify_inputs_or_cache():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 4, 3, generator=g, dtype=F64) for _ in range(3))
    mask = ref.causal_mask(4)
    copies = [x.clone() for x in (q, k, v, mask)]
    out, cache = ref.attention_forward(q, k, v, mask)
    dout = torch.randn(2, 4, 3, generator=g, dtype=F64)
    first = ref.attention_backward(dout, cache)
    second = ref.attention_backward(dout, cache)
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    for x, c in zip((q, k, v, mask), copies):
        assert torch.equal(x, c)


# ---------------------------------------------------------------- multi-head


def _params(Dm, g):
    p = {n: torch.randn(Dm, Dm, generator=g, dtype=F64) / math.sqrt(Dm)
         for n in ("Wq", "Wk", "Wv", "Wo")}
    p.update({n: torch.randn(Dm, generator=g, dtype=F64) * 0.5 for n in ("bq", "bk", "bv", "bo")})
    return p


def _torch_mha(params, H, Dm):
    """torch.nn.MultiheadAttention holding our params: its in_proj_weight is (3Dm, Dm) and
    applied as x @ W.T, so it stores our (Dm, Dm) x @ W weights transposed."""
    mha = torch.nn.MultiheadAttention(Dm, H, dropout=0.0, batch_first=True, dtype=F64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([params["Wq"].T, params["Wk"].T, params["Wv"].T]))
        mha.in_proj_bias.copy_(torch.cat([params["bq"], params["bk"], params["bv"]]))
        mha.out_proj.weight.copy_(params["Wo"].T)
        mha.out_proj.bias.copy_(params["bo"])
    return mha


# (N, L, S or None for self-attention, Dm, H, mask shape or None or "causal")
MHA_CASES = [
    (2, 5, None, 8, 2, None),
    (3, 4, None, 12, 4, "causal"),
    (3, 4, 7, 12, 3, None),
    (2, 6, 3, 8, 4, "causal"),
    (3, 5, 6, 10, 2, (3, 1, 6)),
    (2, 5, 4, 12, 2, (2, 5, 4)),
    (2, 3, 5, 6, 3, (1, 3, 5)),
    (2, 4, 5, 6, 1, (4, 5)),
    (2, 5, 3, 4, 4, None),
]


@pytest.mark.parametrize("case", MHA_CASES, ids=str)
def test_multihead_matches_torch_multihead_attention(case):
    N, L, S, Dm, H, mshape = case
    g = torch.Generator().manual_seed(zlib.crc32(str(case).encode()))
    self_attention = S is None
    S = L if self_attention else S
    xq = torch.randn(N, L, Dm, generator=g, dtype=F64)
    xkv = xq if self_attention else torch.randn(N, S, Dm, generator=g, dtype=F64)
    params = _params(Dm, g)
    if mshape == "causal":
        mask = ref.causal_mask(L, S)
    elif mshape is None:
        mask = None
    else:
        mask = torch.rand(mshape, generator=g) < 0.6
        mask[..., 0] = True  # torch's MHA gives NaN for fully masked rows: none here
    dout = torch.randn(N, L, Dm, generator=g, dtype=F64)

    mha = _torch_mha(params, H, Dm)
    xq_t = xq.clone().requires_grad_(True)
    xkv_t = xq_t if self_attention else xkv.clone().requires_grad_(True)
    attn_mask = None
    if mask is not None:
        # torch: True means "may NOT attend"; a 3-D mask is (N*H, L, S), batch-major.
        attn_mask = (~mask).expand(N, L, S).repeat_interleave(H, dim=0)
    exp_out, _ = mha(xq_t, xkv_t, xkv_t, attn_mask=attn_mask, need_weights=False)
    exp_out.backward(dout)

    out, cache = ref.multihead_attention_forward(xq, xkv, params, H, mask)
    dxq, dxkv, grads = ref.multihead_attention_backward(dout, cache)
    _close(out, exp_out.detach(), "out")
    if self_attention:
        _close(dxq + dxkv, xq_t.grad, "dxq + dxkv")
    else:
        _close(dxq, xq_t.grad, "dxq")
        _close(dxkv, xkv_t.grad, "dxkv")
    dWq, dWk, dWv = mha.in_proj_weight.grad.chunk(3)
    dbq, dbk, dbv = mha.in_proj_bias.grad.chunk(3)
    expected = {"Wq": dWq.T, "Wk": dWk.T, "Wv": dWv.T, "Wo": mha.out_proj.weight.grad.T,
                "bq": dbq, "bk": dbk, "bv": dbv, "bo": mha.out_proj.bias.grad}
    assert set(grads) == set(expected)
    for name in expected:
        _close(grads[name], expected[name], f"grads[{name!r}]")


def _manual_mha(xq, xkv, p, H, mask):
    """Multi-head attention from autograd-able pieces and the sdpa oracle above."""
    N, L, Dm = xq.shape
    S = xkv.shape[1]

    def heads(x, T):
        return x.reshape(N, T, H, Dm // H).transpose(1, 2)

    Q, K, V = xq @ p["Wq"] + p["bq"], xkv @ p["Wk"] + p["bk"], xkv @ p["Wv"] + p["bv"]
    m = None if mask is None else mask.expand(N, L, S)[:, None]
    o = oracle_attention(heads(Q, L), heads(K, S), heads(V, S), m)
    return o.transpose(1, 2).reshape(N, L, Dm) @ p["Wo"] + p["bo"]


def test_multihead_fully_masked_rows_output_bo_against_manual_autograd():
    g = torch.Generator().manual_seed(11)
    N, L, S, Dm, H = 2, 5, 4, 12, 3
    xq = torch.randn(N, L, Dm, generator=g, dtype=F64)
    xkv = torch.randn(N, S, Dm, generator=g, dtype=F64)
    params = _params(Dm, g)
    mask = torch.rand(N, L, S, generator=g) < 0.6
    mask[0, 3] = False
    mask[1, 0] = False
    dout = torch.randn(N, L, Dm, generator=g, dtype=F64)
    names = list(params)
    leaves = [x.clone().requires_grad_(True) for x in (xq, xkv, *params.values())]
    exp_out = _manual_mha(leaves[0], leaves[1], dict(zip(names, leaves[2:])), H, mask)
    exp_out.backward(dout)

    out, cache = ref.multihead_attention_forward(xq, xkv, params, H, mask)
    dxq, dxkv, grads = ref.multihead_attention_backward(dout, cache)
    _close(out, exp_out.detach(), "out")
    _close(out[0, 3], params["bo"], "fully masked row = bo")
    _close(dxq, leaves[0].grad, "dxq")
    _close(dxkv, leaves[1].grad, "dxkv")
    for name, leaf in zip(names, leaves[2:]):
        _close(grads[name], leaf.grad, f"grads[{name!r}]")


# ---------------------------------------------------------------- masks and encodings


@pytest.mark.parametrize("L,S", [(1, None), (5, None), (3, 7), (7, 3), (6, 1)])
def test_causal_mask(L, S):
    expected = torch.ones(L, L if S is None else S).tril().bool()
    got = ref.causal_mask(L, S) if S is not None else ref.causal_mask(L)
    assert got.dtype == torch.bool and torch.equal(got, expected)


def _pe_formula(T, Dm):
    pe = torch.empty(T, Dm, dtype=F64)
    for t in range(T):
        for i in range(Dm // 2):
            angle = t / 10000 ** (2 * i / Dm)
            pe[t, 2 * i] = math.sin(angle)
            pe[t, 2 * i + 1] = math.cos(angle)
    return pe


@pytest.mark.parametrize("T,Dm", [(1, 2), (7, 10), (64, 6), (300, 32)])
def test_positional_encoding_float64(T, Dm):
    got = ref.positional_encoding(T, Dm, dtype=F64)
    assert got.dtype == F64 and got.shape == (T, Dm)
    torch.testing.assert_close(got, _pe_formula(T, Dm), atol=1e-12, rtol=0)


@pytest.mark.parametrize("T,Dm", [(64, 6), (1000, 16)])
def test_positional_encoding_float32_within_the_spec_tolerance(T, Dm):
    """The float32 reference stays within the tolerance the tests grant (spec options)."""
    got = ref.positional_encoding(T, Dm)
    assert got.dtype == torch.float32
    err = (got.double() - _pe_formula(T, Dm)).abs().amax(dim=1)
    allowed = 1e-6 + 5e-6 * torch.arange(T, dtype=F64)
    assert (err <= allowed).all()
