"""Hidden tests of the rnn assignment: fresh inputs per submission, compared live with the
reference (which runs in float64).

Sizes: N, T, D and H all distinct within a case (a swapped axis or a transposed weight
cannot pass by accident), plus N = 1 and T = 1 and H = 1 or D = 1 edge cases. Every
backward gets a random upstream gradient at every time step. Inputs are checked for
in-place modification by t.run itself.
"""

import torch

from grader.testing import dtype_name

DTYPES = (torch.float64, torch.float32)

STEP_SIZES = [(4, 7, 5), (1, 3, 6), (6, 1, 2), (5, 8, 1)]  # (N, D, H)
SEQ_SIZES = [(3, 5, 4, 6), (1, 4, 3, 2), (2, 1, 5, 3), (4, 6, 1, 7), (1, 1, 2, 5)]  # N,T,D,H
LONG = (4, 16, 3, 5)  # BPTT over many steps: rounding errors accumulate in float32


def _weights(t, D, H, gates, dtype):
    """Wx (D, gates*H), Wh (H, gates*H), b (gates*H,), scaled by 1/sqrt(fan-in) so the
    nonlinearities are neither saturated (zero gradients hide bugs) nor linear."""
    Wx = t.randn(D, gates * H, dtype=dtype, scale=D ** -0.5)
    Wh = t.randn(H, gates * H, dtype=dtype, scale=H ** -0.5)
    b = t.randn(gates * H, dtype=dtype, scale=0.5)
    return Wx, Wh, b


def _label(dtype, **sizes):
    return " ".join([dtype_name(dtype)] + [f"{k}={v}" for k, v in sizes.items()])


# ---------------------------------------------------------------------------- vanilla RNN


def _rnn_step(t, dtype, N, D, H, keywords=False):
    x, h_prev = t.randn(N, D, dtype=dtype), t.randn(N, H, dtype=dtype)
    Wx, Wh, b = _weights(t, D, H, 1, dtype)
    if keywords:
        return t.run("rnn_step_forward", x=x, h_prev=h_prev, Wx=Wx, Wh=Wh, b=b)
    return t.run("rnn_step_forward", x, h_prev, Wx, Wh, b)


def rnn_step_forward_hidden(t):
    for dtype in DTYPES:
        for k, (N, D, H) in enumerate(STEP_SIZES):
            with t.case(_label(dtype, N=N, D=D, H=H) + (" (keywords)" if k == 0 else "")):
                _rnn_step(t, dtype, N, D, H, keywords=k == 0)


def rnn_step_backward_hidden(t):
    for dtype in DTYPES:
        for k, (N, D, H) in enumerate(STEP_SIZES):
            with t.case(_label(dtype, N=N, D=D, H=H) + (" (keywords)" if k == 1 else "")):
                fw = _rnn_step(t, dtype, N, D, H)
                dh = t.randn(N, H, dtype=dtype)
                if k == 1:
                    t.run("rnn_step_backward", dh=dh, cache=fw.cache)
                else:
                    t.run("rnn_step_backward", dh, fw.cache)


def _rnn_seq(t, dtype, N, T, D, H, keywords=False):
    x, h0 = t.randn(N, T, D, dtype=dtype), t.randn(N, H, dtype=dtype)
    Wx, Wh, b = _weights(t, D, H, 1, dtype)
    if keywords:
        return t.run("rnn_forward", x=x, h0=h0, Wx=Wx, Wh=Wh, b=b)
    return t.run("rnn_forward", x, h0, Wx, Wh, b)


def rnn_forward_hidden(t):
    for dtype in DTYPES:
        for k, (N, T, D, H) in enumerate(SEQ_SIZES):
            with t.case(_label(dtype, N=N, T=T, D=D, H=H) + (" (keywords)" if k == 0 else "")):
                _rnn_seq(t, dtype, N, T, D, H, keywords=k == 0)


def rnn_backward_hidden(t):
    for dtype in DTYPES:
        for k, (N, T, D, H) in enumerate(SEQ_SIZES + [LONG]):
            with t.case(_label(dtype, N=N, T=T, D=D, H=H) + (" (twice)" if k == 0 else "")):
                fw = _rnn_seq(t, dtype, N, T, D, H)
                dh = t.randn(N, T, H, dtype=dtype)
                t.run("rnn_backward", dh=dh, cache=fw.cache)
                if k == 0:  # the same cache again: a backward must not consume its cache
                    t.run("rnn_backward", t.randn(N, T, H, dtype=dtype), fw.cache)


# ---------------------------------------------------------------------------- LSTM


def _lstm_step(t, dtype, N, D, H, keywords=False):
    x = t.randn(N, D, dtype=dtype)
    h_prev, c_prev = t.randn(N, H, dtype=dtype), t.randn(N, H, dtype=dtype)
    Wx, Wh, b = _weights(t, D, H, 4, dtype)
    if keywords:
        return t.run("lstm_step_forward", x=x, h_prev=h_prev, c_prev=c_prev, Wx=Wx, Wh=Wh, b=b)
    return t.run("lstm_step_forward", x, h_prev, c_prev, Wx, Wh, b)


def lstm_step_forward_hidden(t):
    for dtype in DTYPES:
        for k, (N, D, H) in enumerate(STEP_SIZES):
            with t.case(_label(dtype, N=N, D=D, H=H) + (" (keywords)" if k == 0 else "")):
                _lstm_step(t, dtype, N, D, H, keywords=k == 0)


def lstm_step_backward_hidden(t):
    for dtype in DTYPES:
        for k, (N, D, H) in enumerate(STEP_SIZES):
            with t.case(_label(dtype, N=N, D=D, H=H) + (" (keywords)" if k == 1 else "")):
                fw = _lstm_step(t, dtype, N, D, H)
                dh, dc = t.randn(N, H, dtype=dtype), t.randn(N, H, dtype=dtype)
                if k == 1:
                    t.run("lstm_step_backward", dh=dh, dc=dc, cache=fw.cache)
                else:
                    t.run("lstm_step_backward", dh, dc, fw.cache)


def _lstm_seq(t, dtype, N, T, D, H, keywords=False):
    x, h0 = t.randn(N, T, D, dtype=dtype), t.randn(N, H, dtype=dtype)
    Wx, Wh, b = _weights(t, D, H, 4, dtype)
    if keywords:
        return t.run("lstm_forward", x=x, h0=h0, Wx=Wx, Wh=Wh, b=b)
    return t.run("lstm_forward", x, h0, Wx, Wh, b)


def lstm_forward_hidden(t):
    for dtype in DTYPES:
        for k, (N, T, D, H) in enumerate(SEQ_SIZES):
            with t.case(_label(dtype, N=N, T=T, D=D, H=H) + (" (keywords)" if k == 0 else "")):
                _lstm_seq(t, dtype, N, T, D, H, keywords=k == 0)


def lstm_backward_hidden(t):
    for dtype in DTYPES:
        for k, (N, T, D, H) in enumerate(SEQ_SIZES + [LONG]):
            with t.case(_label(dtype, N=N, T=T, D=D, H=H) + (" (twice)" if k == 0 else "")):
                fw = _lstm_seq(t, dtype, N, T, D, H)
                dh = t.randn(N, T, H, dtype=dtype)
                t.run("lstm_backward", dh=dh, cache=fw.cache)
                if k == 0:
                    t.run("lstm_backward", t.randn(N, T, H, dtype=dtype), fw.cache)


# ---------------------------------------------------------------------------- clipping

CLIP_LISTS = [
    ("3 tensors", [(3, 4), (7,), (2, 3, 2)]),
    ("1 tensor", [(6,)]),
    ("4 tensors incl. 0-dim", [(5, 1), (), (2, 2), (1, 3, 1)]),
]


def _clip_cases(t, factors, where):
    for dtype in DTYPES:
        for k, (name, shapes) in enumerate(CLIP_LISTS):
            with t.case(f"{dtype_name(dtype)} {name}, norm {where} max_norm"
                        + (" (keywords)" if k == 0 else "")):
                grads = [t.randn(*s, dtype=dtype) for s in shapes]
                norm = float(sum((g.double() ** 2).sum() for g in grads) ** 0.5)
                max_norm = t.rand(dtype=torch.float64, low=factors[0], high=factors[1])
                max_norm = float(max_norm) * norm
                if k == 0:
                    t.run("clip_grad_norm", grads=grads, max_norm=max_norm)
                else:
                    t.run("clip_grad_norm", grads, max_norm)


def clip_grad_norm_below_hidden(t):
    # max_norm 1.5x..4x the norm: far enough from the threshold that float32 rounding of
    # the norm cannot flip the comparison.
    _clip_cases(t, (1.5, 4.0), "below")
    with t.case("float64 all-zero gradients"):
        t.run("clip_grad_norm", [torch.zeros(3, 2, dtype=torch.float64),
                                 torch.zeros(4, dtype=torch.float64)], 1.0)
    with t.case("float64 total norm exactly max_norm (a tie: unchanged)"):
        # API: clipped only when total_norm > max_norm. Squares of small integers sum
        # exactly in any order and sqrt(25) = 5 is exact, so every correct norm is exactly
        # 5.0; clipping at the tie scales by 5 / (5 + 1e-6), 2e-7 off, far beyond rtol.
        scale = float(t.integer(1, 4))  # a power of two: still exact
        scale = 2.0 ** (scale - 2)
        t.run("clip_grad_norm", [torch.tensor([3.0, 0.0], dtype=torch.float64) * scale,
                                 torch.tensor([[0.0], [4.0]], dtype=torch.float64) * scale],
              5.0 * scale)


def clip_grad_norm_above_hidden(t):
    _clip_cases(t, (0.05, 0.7), "above")


# ---------------------------------------------------------------------------- performance
# The loop over time is the algorithm (each step needs the previous state), so only the
# batch is grown: a vectorized step handles every sequence of the batch at once. Sizes
# are the defaults; the spec's options override them per device class. Small D and H and
# a large N make a loop over the batch pay Python's per-op overhead N*T times against
# a small per-sample cost (docs/benchmarks/calibrate-rnn-cpu.md).
PERF_SIZES = {"N": 1024, "T": 16, "D": 16, "H": 16}


def _perf_inputs(t, gates):
    def inputs(N, T, D, H, dtype):
        x, h0 = t.randn(N, T, D, dtype=dtype), t.randn(N, H, dtype=dtype)
        return (x, h0, *_weights(t, D, H, gates, dtype))

    return inputs


def perf_rnn(t):
    t.perf("rnn_forward", _perf_inputs(t, 1), sizes=PERF_SIZES, grow={"N": "the batch"},
           count_sizes={"N": 8})


def perf_lstm(t):
    t.perf("lstm_forward", _perf_inputs(t, 4), sizes=PERF_SIZES, grow={"N": "the batch"},
           count_sizes={"N": 8})
