"""Public tests of the rnn assignment (run them with `dlgrade check rnn`).

Every test compares your outputs with the reference solution's on recorded inputs: both
dtypes, sizes where N, T, D and H all differ, and random upstream gradients at every
time step (a loss usually depends on every hidden state, not only the last). The
performance tests (perf_rnn_public, perf_lstm_public) draw fresh inputs instead and compares with
PyTorch's own recurrent layers.
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


# ---------------------------------------------------------------- performance
# Your rnn_forward and lstm_forward, timed against PyTorch's own recurrent kernels (what
# torch.nn.RNN and torch.nn.LSTM run, given your weights) on a large batch of short
# sequences, and their op counts at N=8 and N=16. Looping over the time steps is the
# algorithm; looping over the batch is what these tests catch. You may not call these
# kernels yourself (they are forbidden in submissions).
PERF_SIZES = {"N": 1024, "T": 16, "D": 16, "H": 16}


def _native_weights(Wx, Wh, b):
    """PyTorch's layout: weight_ih (G*H, D), weight_hh (G*H, H), bias_ih and bias_hh."""
    return [Wx.T.contiguous(), Wh.T.contiguous(), b, torch.zeros_like(b)]


def native_rnn_forward(x, h0, Wx, Wh, b):
    """torch.nn.RNN(D, H, batch_first=True) with these weights (tanh, one layer)."""
    h, _ = torch.rnn_tanh(x, h0.unsqueeze(0), _native_weights(Wx, Wh, b), True, 1, 0.0,
                          False, False, True)
    return h, None  # outputs named `cache` are never compared


def native_lstm_forward(x, h0, Wx, Wh, b):
    """torch.nn.LSTM(D, H, batch_first=True) with these weights, c0 = 0."""
    c0 = torch.zeros_like(h0).unsqueeze(0)
    h, _, _ = torch.lstm(x, (h0.unsqueeze(0), c0), _native_weights(Wx, Wh, b), True, 1, 0.0,
                         False, False, True)
    return h, None


def _perf_inputs(t, gates):
    def inputs(N, T, D, H, dtype):
        x, h0 = t.randn(N, T, D, dtype=dtype), t.randn(N, H, dtype=dtype)
        return (x, h0, *_weights(t, D, H, gates, dtype))

    return inputs


def perf_rnn_public(t):
    t.perf("rnn_forward", _perf_inputs(t, 1), sizes=PERF_SIZES, grow={"N": "the batch"},
           count_sizes={"N": 8}, baseline=native_rnn_forward, baseline_name="torch.nn.RNN")


def perf_lstm_public(t):
    t.perf("lstm_forward", _perf_inputs(t, 4), sizes=PERF_SIZES, grow={"N": "the batch"},
           count_sizes={"N": 8}, baseline=native_lstm_forward, baseline_name="torch.nn.LSTM")
