"""The rnn reference against PyTorch's own layers (float64 oracles, autograd gradients).

torch.nn.RNN / torch.nn.LSTM store weights as (gates*H, D) with two biases; the
reference uses (D, gates*H) and one bias, so weight_ih = Wx.T, weight_hh = Wh.T,
bias_ih = b, bias_hh = 0. Upstream gradients are random at every time step.
"""

import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def _load_reference():
    spec = importlib.util.spec_from_file_location(
        "_rnn_reference_under_test", ROOT / "reference" / "rnn" / "rnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()
F64 = torch.float64
SIZES = [(3, 5, 4, 6), (1, 1, 2, 3), (2, 7, 1, 5), (4, 3, 6, 1)]  # (N, T, D, H)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _randn(g, *shape, scale=1.0):
    return torch.randn(*shape, generator=g, dtype=F64) * scale


def _torch_layer(cls, D, H, Wx, Wh, b):
    layer = cls(D, H, batch_first=True, dtype=F64, **({"nonlinearity": "tanh"}
                                                         if cls is torch.nn.RNN else {}))
    with torch.no_grad():
        layer.weight_ih_l0.copy_(Wx.T)
        layer.weight_hh_l0.copy_(Wh.T)
        layer.bias_ih_l0.copy_(b)
        layer.bias_hh_l0.zero_()
    return layer


def _oracle(cls, x, h0, Wx, Wh, b, dh):
    """Forward h and autograd gradients (dx, dh0, dWx, dWh, db) of sum(h * dh)."""
    D, H = x.shape[2], h0.shape[1]
    layer = _torch_layer(cls, D, H, Wx, Wh, b)
    x = x.clone().requires_grad_(True)
    h0 = h0.clone().requires_grad_(True)
    state = (h0[None], torch.zeros_like(h0)[None]) if cls is torch.nn.LSTM else h0[None]
    h, _ = layer(x, state)
    (h * dh).sum().backward()
    grads = (x.grad, h0.grad, layer.weight_ih_l0.grad.T, layer.weight_hh_l0.grad.T,
             layer.bias_ih_l0.grad)
    return h.detach(), grads


def _close(got, expected):
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_rnn_matches_torch(N, T, D, H):
    g = _gen(N * 1000 + T * 100 + D * 10 + H)
    x, h0 = _randn(g, N, T, D), _randn(g, N, H)
    Wx, Wh, b = _randn(g, D, H, scale=0.5), _randn(g, H, H, scale=0.5), _randn(g, H)
    dh = _randn(g, N, T, H)
    h_exp, grads_exp = _oracle(torch.nn.RNN, x, h0, Wx, Wh, b, dh)
    h, cache = ref.rnn_forward(x, h0, Wx, Wh, b)
    _close(h, h_exp)
    for got, exp in zip(ref.rnn_backward(dh, cache), grads_exp):
        _close(got, exp)


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_lstm_matches_torch(N, T, D, H):
    g = _gen(7 + N * 1000 + T * 100 + D * 10 + H)
    x, h0 = _randn(g, N, T, D), _randn(g, N, H)
    Wx, Wh, b = _randn(g, D, 4 * H, scale=0.5), _randn(g, H, 4 * H, scale=0.5), _randn(g, 4 * H)
    dh = _randn(g, N, T, H)
    h_exp, grads_exp = _oracle(torch.nn.LSTM, x, h0, Wx, Wh, b, dh)
    h, cache = ref.lstm_forward(x, h0, Wx, Wh, b)
    _close(h, h_exp)
    for got, exp in zip(ref.lstm_backward(dh, cache), grads_exp):
        _close(got, exp)


def test_step_functions_match_torch_cells():
    g = _gen(11)
    N, D, H = 3, 4, 5
    x, h_prev, c_prev = _randn(g, N, D), _randn(g, N, H), _randn(g, N, H)
    # RNN cell: forward and autograd gradients with a random upstream dh.
    Wx, Wh, b = _randn(g, D, H), _randn(g, H, H, scale=0.5), _randn(g, H)
    dh = _randn(g, N, H)
    leaves = [t.clone().requires_grad_(True) for t in (x, h_prev, Wx, Wh, b)]
    h_exp = torch.rnn_tanh_cell(leaves[0], leaves[1], leaves[2].T, leaves[3].T, leaves[4],
                                torch.zeros(H, dtype=F64))
    (h_exp * dh).sum().backward()
    h, cache = ref.rnn_step_forward(x, h_prev, Wx, Wh, b)
    _close(h, h_exp.detach())
    for got, leaf in zip(ref.rnn_step_backward(dh, cache), leaves):
        _close(got, leaf.grad)
    # LSTM cell: upstream gradients for both h and c.
    Wx, Wh, b = _randn(g, D, 4 * H), _randn(g, H, 4 * H, scale=0.5), _randn(g, 4 * H)
    dh, dc = _randn(g, N, H), _randn(g, N, H)
    leaves = [t.clone().requires_grad_(True) for t in (x, h_prev, c_prev, Wx, Wh, b)]
    h_exp, c_exp = torch.lstm_cell(leaves[0], (leaves[1], leaves[2]), leaves[3].T,
                                   leaves[4].T, leaves[5], torch.zeros(4 * H, dtype=F64))
    ((h_exp * dh).sum() + (c_exp * dc).sum()).backward()
    h, c, cache = ref.lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)
    _close(h, h_exp.detach())
    _close(c, c_exp.detach())
    for got, leaf in zip(ref.lstm_step_backward(dh, dc, cache), leaves):
        _close(got, leaf.grad)


@pytest.mark.parametrize("factor", [0.3, 3.0])
def test_clip_grad_norm_matches_torch(factor):
    g = _gen(5)
    grads = [_randn(g, 3, 4), _randn(g, 7), _randn(g, 2, 1, 3)]
    norm = torch.sqrt(sum((t * t).sum() for t in grads))
    max_norm = float(norm) * factor
    params = [torch.zeros_like(t, requires_grad=True) for t in grads]
    for p, t in zip(params, grads):
        p.grad = t.clone()
    total_exp = torch.nn.utils.clip_grad_norm_(params, max_norm)
    clipped, total = ref.clip_grad_norm(grads, max_norm)
    _close(total, total_exp)
    assert total.dim() == 0 and total.dtype == F64
    # torch scales by min(max_norm / (total + 1e-6), 1), clamped; above the threshold
    # that is the reference's factor, below it both leave the gradients as they are.
    for got, p in zip(clipped, params):
        _close(got, p.grad)
    if factor > 1:
        for got, t in zip(clipped, grads):
            assert torch.equal(got, t) and got.data_ptr() != t.data_ptr()


def test_clip_grad_norm_float32_dtype():
    grads = [torch.ones(2, 3), torch.ones(4)]
    clipped, total = ref.clip_grad_norm(grads, 1.0)
    assert total.dtype == torch.float32 and total.dim() == 0
    assert all(c.dtype == torch.float32 for c in clipped)
    torch.testing.assert_close(total, torch.tensor(10.0).sqrt())
