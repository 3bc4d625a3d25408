"""Tamper evidence for what is observed inside the worker: canary calls, the autograd check,
and no threads to hide work in (grader.boundary.canary, worker, sandbox).

Each forger below reaches the worker's module the way a submission can, through computed
names the static scan does not resolve, and changes what the worker reports."""

from __future__ import annotations

import pytest
import torch

from grader.boundary import canary, oprecord
from grader.boundary.session import WorkerSession

HONEST = '''
import torch


def affine(x, w):
    return x @ w + 1.0


def looped(x):
    return torch.stack([r.relu() for r in x])
'''

# Reaches the worker module through os.sys.modules and string-built names.
_REACH = '''
import os
_W = getattr(os, "sy" + "s").modules["grader.boundary." + "worker"].Worker
_call = _W.call
'''

# Every reply: no ops, no functions, nothing written, no autograd, "intact".
SILENCE_ALL = HONEST + _REACH + '''
def _silent(self, req, msg):
    reply, enc = _call(self, req, msg)
    if "ops" in reply:
        reply.update(ops=[], functions=[], mutated=[], autograd=False, op_count=1)
    return reply, enc
_W.call = _silent
'''

# Only what would cost marks disappears: relu and softmax, in-place writes, autograd.
STRIP_FORBIDDEN = HONEST + _REACH + '''
_HIDE = {"relu", "_softmax", "softmax"}
def _strip(self, req, msg):
    reply, enc = _call(self, req, msg)
    if "ops" in reply:
        reply["ops"] = [o for o in reply["ops"] if o not in _HIDE]
        reply["functions"] = [o for o in reply["functions"] if o not in _HIDE]
    return reply, enc
_W.call = _strip
'''

HIDE_WRITES = HONEST + _REACH + '''
def _clean(self, req, msg):
    reply, enc = _call(self, req, msg)
    reply["mutated"] = []
    reply["autograd"] = False
    return reply, enc
_W.call = _clean
'''

# A loop that reports the op count of a vectorized call.
FLAT_COUNT = HONEST + _REACH + '''
def _flat(self, req, msg):
    reply, enc = _call(self, req, msg)
    if "op_count" in reply:
        reply["op_count"] = min(reply["op_count"], 5)
    return reply, enc
_W.call = _flat
'''

# Forges only the replies to batched calls (the worker's batch handler).
SILENCE_BATCHES = HONEST + _REACH + '''
_invoke = _W._invoke
def _quiet(self, req, *a, **k):
    reply, enc, result = _invoke(self, req, *a, **k)
    if "ops" in reply:
        reply.update(ops=[], functions=[], mutated=[], autograd=False)
    return reply, enc, result
_batch = _W.batch
def _batched(self, req, msg, seq):
    _W._invoke = _quiet
    try:
        return _batch(self, req, msg, seq)
    finally:
        _W._invoke = _invoke
_W.batch = _batched
'''

AUTOGRAD = '''
import torch


def grad_by_autograd(x, w):
    # only matmuls and sums: the op names alone look allowed
    w = w.clone()
    getattr(w, "requires" + "_grad_")()
    (x @ w).sum().backward()
    return w.grad


def grad_by_func(x, w):
    f = getattr(getattr(torch, "fu" + "nc"), "grad")
    return f(lambda v: (x @ v).sum())(w)


def by_hand(x, w):
    return x.sum(0)[:, None].expand_as(w).clone()


def in_a_thread(x):
    import threading
    out = []
    t = threading.Thread(target=lambda: out.append(torch.relu(x)))
    t.start()
    t.join()
    return out[0]
'''


def _session(zygote, source):
    return WorkerSession(zygote, "student", source)


def _calls(s, n=12, count_ops=False):
    x, w = torch.randn(5, 4, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    for _ in range(n):
        r, _ = s.call("affine", (x, w), count_ops=count_ops)
        assert r.ok, r.error
        r, _ = s.call("looped", (x,), count_ops=count_ops)
        assert r.ok, r.error


def test_an_honest_worker_passes_every_canary(zygote):
    with _session(zygote, HONEST) as s:
        _calls(s)
        _calls(s, count_ops=True)
        assert s.canaries >= 2  # the first recorded call, and a share of the others
        assert s.tampered == ""


GLOBAL_SETTINGS = HONEST + '''
torch.set_num_threads(4)  # the worker keeps one thread: more would be denied
torch.set_grad_enabled(False)  # no autograd anywhere, says the student


def big(x):
    return (x @ x).sum() + torch.nn.functional.conv2d(
        torch.ones(4, 8, 32, 32), torch.ones(8, 8, 3, 3)).sum(), torch.get_num_threads()
'''


def test_honest_global_settings_neither_crash_nor_fail_the_canary(zygote):
    with _session(zygote, GLOBAL_SETTINGS) as s:
        r, _ = s.call("big", (torch.randn(256, 256),))
        assert r.ok, (r.error, s.output.text()[-300:])
        assert r.value[1] == 1
        _calls(s, n=3)
        assert s.canaries >= 1 and s.tampered == ""


MODES = [oprecord.PYTHON] + ([oprecord.NATIVE] if oprecord.mode() == oprecord.NATIVE else [])


@pytest.mark.parametrize("mode", MODES)
def test_the_expected_record_is_what_the_worker_reports(mode):
    from grader.boundary.worker import RECORD

    x, w = canary.make_inputs()
    e = canary.expected_record(x, w, RECORD[mode])
    if mode == oprecord.PYTHON:
        assert set(canary.REQUIRED_OPS) <= set(e["ops"])
        assert set(canary.REQUIRED_FUNCTIONS) <= set(e["functions"]) and e["closed"]
    else:  # the ops called from Python; the worker's record holds the nested ones too
        assert {"relu", "softmax", "matmul", "add_", "stack"} <= set(e["ops"])
        assert not e["closed"] and "_softmax" not in e["ops"]
    assert e["autograd"] is True and e["op_count"] > x.shape[0]


@pytest.mark.parametrize("mode", MODES)
def test_the_record_is_taken_once_per_shape_and_the_value_every_time(mode):
    from grader.boundary.worker import RECORD, record

    recorder = RECORD[mode]
    x1, w1 = torch.randn(5, 4, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    x2, w2 = torch.randn(5, 4, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    first, second = (canary.expected_record(x, w, recorder) for x, w in ((x1, w1), (x2, w2)))
    xc, wc = x2.clone(), w2.clone()
    value, rec = record(mode, canary.probe, xc, wc)
    assert second["ops"] == rec["ops"] and second["functions"] == rec["functions"]
    assert second["op_count"] == rec["op_count"] == first["op_count"]
    assert torch.equal(second["value"], value) and not torch.equal(first["value"], value)
    assert torch.equal(x2, x2.clone()) and canary.expected_record(
        torch.randn(9, 4, dtype=torch.float64), w1, recorder)["op_count"] == rec["op_count"] + 4


def test_the_expected_value_is_the_probes_without_autograd():
    for large in (False, False, True, True):
        x, w = canary.make_inputs(large=large)
        before = x.clone()
        expected = canary.probe_value(x, w)
        assert torch.equal(x, before), "the expectation must not write to the inputs"
        assert torch.allclose(canary.probe(x.clone(), w.clone()), expected, rtol=1e-12,
                              atol=1e-12)


def _caught(zygote, source, count_ops=False):
    with _session(zygote, source) as s:
        _calls(s, n=4, count_ops=count_ops)
        return s.tampered


def test_silenced_records_are_caught(zygote):
    why = _caught(zygote, SILENCE_ALL)
    assert why.startswith(canary.REASON), why


def test_forged_batch_replies_are_caught(zygote, monkeypatch):
    from grader.boundary import session as session_module

    monkeypatch.setattr(session_module, "CANARY_RATE", 1.0)  # a canary before the batch
    x, w = torch.randn(5, 4, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    with _session(zygote, SILENCE_BATCHES) as s:
        r, _ = s.call("affine", (x, w))  # single calls stay honest: their canary passes
        assert r.ok and s.tampered == ""
        out = s.batch([("affine", (x, w), {}), ("looped", (x,), {})])
        assert all(r.ok for r, _ in out)
        assert s.tampered.startswith(canary.REASON), s.tampered


def test_records_stripped_of_forbidden_ops_are_caught(zygote):
    why = _caught(zygote, STRIP_FORBIDDEN)
    assert why.startswith(canary.REASON) and "relu" in why, why


def test_hidden_in_place_writes_and_autograd_are_caught(zygote):
    why = _caught(zygote, HIDE_WRITES)
    assert why.startswith(canary.REASON) and "in-place write" in why, why


def test_forged_op_counts_are_caught(zygote):
    assert _caught(zygote, FLAT_COUNT, count_ops=False) == ""  # the count is not asked for
    why = _caught(zygote, FLAT_COUNT, count_ops=True)
    assert why.startswith(canary.REASON) and "op count" in why, why


def test_autograd_is_seen_at_run_time(zygote):
    x, w = torch.randn(5, 4, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    with _session(zygote, AUTOGRAD) as s:
        for fn in ("grad_by_autograd", "grad_by_func"):
            r, _ = s.call(fn, (x, w))
            assert r.ok, r.error
            assert torch.allclose(r.value, x.sum(0)[:, None].expand_as(w))
            assert r.autograd is True, fn
            # (the native recorder also names the ops these call: matmul's transpose...)
            assert set(r.ops) <= {"clone", "mm", "sum", "ones_like", "expand", "t", "detach",
                                  "lift_fresh", "alias", "empty_like", "copy_", "new_empty",
                                  "matmul", "transpose", "resolve_conj", "empty",
                                  "as_strided", "fill_", "empty_strided"}
        r, _ = s.call("by_hand", (x, w))
        assert r.ok and r.autograd is False
        assert s.tampered == ""


def test_no_thread_can_run_work_outside_the_recorder(zygote):
    with _session(zygote, AUTOGRAD) as s:
        r, _ = s.call("in_a_thread", (torch.randn(3),))
        assert r.error is not None and r.error.type == "RuntimeError", r
        assert "can't start new thread" in r.error.message
