"""The rnn assignment's forbidden ops: a library LSTM inside lstm_step_forward zeroes the
LSTM tests (and only those), with a message naming what was used; the reference itself
dispatches nothing its own spec forbids."""

import importlib.util
from pathlib import Path

import pytest
import torch

from grader.engine import testing
from tests.conftest import grade, suite

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference" / "rnn" / "rnn.py"

LSTM_CELL = '''
    H = h_prev.shape[1]
    h, c = torch.lstm_cell(x, (h_prev, c_prev), Wx.T, Wh.T, b, torch.zeros_like(b))
    return h, c, (x, h_prev, c_prev, Wx, Wh, b, h, c, H)
'''

NN_LSTM = '''
    N, H = h_prev.shape
    layer = torch.nn.LSTM(x.shape[1], H, batch_first=True, dtype=x.dtype)
    with torch.no_grad():
        layer.weight_ih_l0.copy_(Wx.T)
        layer.weight_hh_l0.copy_(Wh.T)
        layer.bias_ih_l0.copy_(b)
        layer.bias_hh_l0.zero_()
        out, (h, c) = layer(x[:, None], (h_prev[None], c_prev[None]))
    return out[:, 0], c[0], None
'''


def _with_lstm_step_forward(body: str) -> str:
    """The reference with lstm_step_forward's solution replaced by `body`."""
    src = REFERENCE.read_text(encoding="utf-8")
    start = src.index("def lstm_step_forward(")
    begin = src.index("    # BEGIN SOLUTION\n", start)
    end = src.index("    # END SOLUTION\n", begin)
    return src[:begin] + body.lstrip("\n") + src[end + len("    # END SOLUTION\n"):]


@pytest.mark.parametrize("body,name", [(LSTM_CELL, "torch.lstm_cell"),
                                       (NN_LSTM, "torch.nn.LSTM")])
def test_library_lstm_scores_zero_on_lstm_tests_only(zygote, body, name):
    r = grade(zygote, "rnn", _with_lstm_step_forward(body), submission_id="forbidden")
    assert r.status == "graded"
    spec = suite("rnn").assignment
    for t in r.tests:
        uses_lstm = any(fn.startswith("lstm") for fn in spec.test(t.id).functions)
        if uses_lstm:
            assert t.points == 0, (t.id, t.output)
            assert "forbidden" in t.output and name in t.output, t.output
        else:
            assert t.points == t.max_points, (t.id, t.output)


def test_reference_dispatches_no_forbidden_op(Recorder):
    spec = importlib.util.spec_from_file_location("_rnn_ref_ops", REFERENCE)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    g = torch.Generator().manual_seed(0)
    N, T, D, H = 2, 3, 4, 5

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    rec = Recorder()
    with rec:
        _, cache = ref.rnn_forward(r(N, T, D), r(N, H), r(D, H), r(H, H), r(H))
        ref.rnn_backward(r(N, T, H), cache)
        _, cache = ref.lstm_forward(r(N, T, D), r(N, H), r(D, 4 * H), r(H, 4 * H), r(4 * H))
        ref.lstm_backward(r(N, T, H), cache)
        ref.clip_grad_norm([r(3), r(2, 2)], 0.1)
        ref.clip_grad_norm([r(3), r(2, 2)], 100.0)
    a = suite("rnn").assignment
    assert {"mm", "tanh", "sigmoid"} <= rec.ops
    assert testing.forbidden_matches(rec.ops, a.forbidden_aten) == []


def test_library_cell_hidden_behind_a_computed_name_is_caught_at_run_time(zygote):
    """torch.lstm_cell decomposes into allowed aten ops on the CPU and a computed getattr
    defeats the static scan: the worker's torch-function record still names it."""
    from tests.conftest import grade

    source = (ROOT / "reference" / "rnn" / "rnn.py").read_text() + '''

_own_step = lstm_step_forward


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    cell = getattr(torch, "lstm" + "_cell")
    h, c = cell(x, (h_prev, c_prev), Wx.T, Wh.T, b, torch.zeros_like(b))
    return h, c, _own_step(x, h_prev, c_prev, Wx, Wh, b)[2]
'''
    r = grade(zygote, "rnn", source, submission_id="hidden-lstm-cell")
    for t in r.tests:
        if "lstm" in t.id:
            # the function mode names torch.lstm_cell; the native recorder, its aten op
            assert t.points == 0 and ("torch.lstm_cell" in t.output
                                      or "aten.lstm_cell" in t.output), t.id
        else:
            assert t.passed, t.id
