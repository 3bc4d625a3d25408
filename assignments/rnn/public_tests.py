"""Public tests of the rnn assignment (run them with `dlgrade check rnn`).

Every test compares your outputs with the reference solution's on recorded inputs: both
dtypes, sizes where N, T, D and H all differ, and random upstream gradients at every
time step (a loss usually depends on every hidden state, not only the last).
"""

import torch

from grader.testing import dtype_name

DTYPES = (torch.float64, torch.float32)


def _weights(t, D, H, gates, dtype):
    """Wx (D, gates*H), Wh (H, gates*H), b (gates*H,) at a scale that keeps tanh/sigmoid
    away from saturation (a saturated unit has a zero gradient and hides bugs)."""
    Wx = t.randn(D, gates * H, dtype=dtype, scale=D ** -0.5)
    Wh = t.randn(H, gates * H, dtype=dtype, scale=H ** -0.5)
    b = t.randn(gates * H, dtype=dtype, scale=0.5)
    return Wx, Wh, b


def rnn_step_public(t):
    for dtype, (N, D, H) in zip(DTYPES, [(3, 4, 5), (2, 6, 3)]):
        with t.case(f"{dtype_name(dtype)} N={N} D={D} H={H}"):
            x, h_prev = t.randn(N, D, dtype=dtype), t.randn(N, H, dtype=dtype)
            Wx, Wh, b = _weights(t, D, H, 1, dtype)
            fw = t.run("rnn_step_forward", x, h_prev, Wx, Wh, b)
            t.run("rnn_step_backward", t.randn(N, H, dtype=dtype), fw.cache)


def rnn_sequence_public(t):
    for dtype, (N, T, D, H) in zip(DTYPES, [(2, 4, 3, 5), (3, 5, 4, 2)]):
        with t.case(f"{dtype_name(dtype)} N={N} T={T} D={D} H={H}"):
            x, h0 = t.randn(N, T, D, dtype=dtype), t.randn(N, H, dtype=dtype)
            Wx, Wh, b = _weights(t, D, H, 1, dtype)
            fw = t.run("rnn_forward", x, h0, Wx, Wh, b)
            t.run("rnn_backward", t.randn(N, T, H, dtype=dtype), fw.cache)


def lstm_step_public(t):
    for dtype, (N, D, H) in zip(DTYPES, [(3, 4, 5), (2, 6, 3)]):
        with t.case(f"{dtype_name(dtype)} N={N} D={D} H={H}"):
            x = t.randn(N, D, dtype=dtype)
            h_prev, c_prev = t.randn(N, H, dtype=dtype), t.randn(N, H, dtype=dtype)
            Wx, Wh, b = _weights(t, D, H, 4, dtype)
            fw = t.run("lstm_step_forward", x, h_prev, c_prev, Wx, Wh, b)
            dh, dc = t.randn(N, H, dtype=dtype), t.randn(N, H, dtype=dtype)
            t.run("lstm_step_backward", dh, dc, fw.cache)


def lstm_sequence_public(t):
    for dtype, (N, T, D, H) in zip(DTYPES, [(2, 4, 3, 5), (3, 5, 4, 2)]):
        with t.case(f"{dtype_name(dtype)} N={N} T={T} D={D} H={H}"):
            x, h0 = t.randn(N, T, D, dtype=dtype), t.randn(N, H, dtype=dtype)
            Wx, Wh, b = _weights(t, D, H, 4, dtype)
            fw = t.run("lstm_forward", x, h0, Wx, Wh, b)
            t.run("lstm_backward", t.randn(N, T, H, dtype=dtype), fw.cache)


def clip_grad_norm_public(t):
    shapes = [(3, 4), (5,), (2, 3, 2)]
    for dtype in DTYPES:
        for factor, where in [(4.0, "below"), (0.25, "above")]:
            with t.case(f"{dtype_name(dtype)} {len(shapes)} tensors, norm {where} max_norm"):
                grads = [t.randn(*s, dtype=dtype) for s in shapes]
                norm = float(sum((g.double() ** 2).sum() for g in grads) ** 0.5)
                t.run("clip_grad_norm", grads, factor * norm)
