"""Public tests for attention: the same checks as the hidden ones, on fewer cases.

Run them with `dlgrade check attention` (inputs and expected values come from fixtures/;
the performance test, perf_attention_public, draws fresh inputs and compares with
F.scaled_dot_product_attention).
"""

import torch
import torch.nn.functional as F

from grader.testing import Tolerance, dtype_name

PARAM_NAMES = ("Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo")


def _params(t, Dm, dtype):
    """Weights scaled by 1/sqrt(Dm) (as at initialization), so every activation is O(1)."""
    p = {n: t.randn(Dm, Dm, dtype=dtype, scale=Dm ** -0.5) for n in PARAM_NAMES[:4]}
    p.update({n: t.randn(Dm, dtype=dtype, scale=0.5) for n in PARAM_NAMES[4:]})
    return p


def attention_public(t):
    # (B, L, S, E, Ev): one batch dimension, L != S and E != Ev.
    for dtype, (B, L, S, E, Ev) in [(torch.float64, (2, 4, 6, 5, 3)),
                                    (torch.float32, (3, 5, 7, 4, 6))]:
        for masked in (False, True):
            label = "causal mask" if masked else "no mask"
            with t.case(f"{dtype_name(dtype)} B={B} L={L} S={S} E={E} Ev={Ev} {label}"):
                q = t.randn(B, L, E, dtype=dtype)
                k = t.randn(B, S, E, dtype=dtype)
                v = t.randn(B, S, Ev, dtype=dtype)
                mask = t.reference("causal_mask", L, S) if masked else None
                fw = t.run("attention_forward", q, k, v, mask=mask)
                t.run("attention_backward", t.randn(B, L, Ev, dtype=dtype), fw.cache)


def multihead_public(t):
    with t.case("float64 self-attention N=2 L=5 Dm=8 H=2 causal mask"):
        x = t.randn(2, 5, 8)
        params = _params(t, 8, torch.float64)
        fw = t.run("multihead_attention_forward", x, x, params, 2, mask=t.reference(
            "causal_mask", 5))
        t.run("multihead_attention_backward", t.randn(2, 5, 8), fw.cache)
    with t.case("float32 cross-attention N=3 L=4 S=6 Dm=12 H=3 no mask"):
        xq = t.randn(3, 4, 12, dtype=torch.float32)
        xkv = t.randn(3, 6, 12, dtype=torch.float32)
        params = _params(t, 12, torch.float32)
        fw = t.run("multihead_attention_forward", xq, xkv, params, 3)
        t.run("multihead_attention_backward", t.randn(3, 4, 12, dtype=torch.float32), fw.cache)


def causal_mask_public(t):
    for L, S in [(4, None), (3, 5)]:
        with t.case(f"L={L} S={S}"):
            got, types = t.call("causal_mask", L, S, device=t.device)
            # The reference builds its mask on the trusted side's CPU.
            t.check("mask", got, t.reference("causal_mask", L, S), types=types)


def positional_encoding_public(t):
    for dtype, T, Dm in [(torch.float64, 10, 6), (torch.float32, 200, 16)]:
        with t.case(f"{dtype_name(dtype)} T={T} Dm={Dm}"):
            check_positional_encoding(t, T, Dm, dtype)


def check_positional_encoding(t, T, Dm, dtype):
    """Compare pe in blocks of positions: float32's rounding grows with t (see the spec)."""
    got, types = t.call("positional_encoding", T, Dm, device=t.device, dtype=dtype)
    expected = t.reference("positional_encoding", T, Dm, dtype=dtype)
    if dtype != torch.float32:
        t.check("pe", got, expected, dtype=dtype, types=types)
        return
    per_t = t.test.options["float32_per_position"]
    floor = t.test.options["float32_floor"]
    t.check("pe", got, expected, dtype=dtype, types=types,
            tol=Tolerance(atol=floor + per_t * max(T - 1, 0)))
    lo = 0
    while lo < T:
        hi = min(T, max(16, 4 * lo))
        t.check(f"pe[{lo}:{hi}]", got[lo:hi], expected[lo:hi], dtype=dtype,
                tol=Tolerance(atol=floor + per_t * (hi - 1)))
        lo = hi


# ---------------------------------------------------------------- performance
# Your attention_forward, timed against PyTorch's F.scaled_dot_product_attention on many
# small causal attention problems (q, k, v of shape (B, Hd, L, E)), and its op count at
# two batch sizes and two lengths: a Python loop over the batch or over the query rows
# fails. (F.scaled_dot_product_attention is forbidden in your submission.)
PERF_ATTENTION = {"B": 512, "Hd": 4, "L": 8, "E": 4}


def native_attention_forward(q, k, v, mask=None):
    """F.scaled_dot_product_attention with a bool mask (True = may attend)."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), None  # cache: not compared


def perf_attention_public(t):
    def inputs(B, Hd, L, E, dtype):
        q, k, v = (t.randn(B, Hd, L, E, dtype=dtype) for _ in range(3))
        return (q, k, v), {"mask": torch.ones(L, L, dtype=torch.bool).tril()}

    t.perf("attention_forward", inputs, sizes=PERF_ATTENTION,
           grow={"B": "the batch", "L": "the queries"}, count_sizes={"B": 8, "L": 8},
           baseline=native_attention_forward, baseline_name="F.scaled_dot_product_attention")
