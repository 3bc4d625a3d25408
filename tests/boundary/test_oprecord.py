"""The native op recorder (grader.boundary.oprecord): what it records, that turning it off
shows, and the fallback when it cannot be built."""

from __future__ import annotations

import pytest
import torch

from grader.boundary import oprecord

native = pytest.mark.skipif(oprecord.mode() != oprecord.NATIVE,
                            reason="the native recorder is not built here")


def _record(fn):
    rec = oprecord.NativeRecorder(top=True)
    with rec:
        fn()
    return rec


@native
def test_it_names_every_op_nested_ones_too_and_counts_the_outer_ones():
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    rec = _record(lambda: torch.relu(a @ b).sum())
    assert {"matmul", "mm", "relu", "sum"} <= rec.ops  # mm: inside matmul
    assert rec.top_ops == {"matmul", "relu", "sum"} and rec.count == 3
    assert rec.autograd is False


@native
def test_a_composite_op_is_named_even_where_it_decomposes():
    x, h, c = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    rec = _record(lambda: torch.lstm_cell(x, (h, c), torch.randn(16, 3), torch.randn(16, 4)))
    assert {"lstm_cell", "mm", "sigmoid_", "tanh"} <= rec.ops


@native
def test_the_count_grows_with_a_python_loop_and_not_with_the_size():
    def looped(n):
        x = torch.randn(n, 4)
        return lambda: torch.stack([r.sum() for r in x])

    def vectorized(n):
        x = torch.randn(n, 4)
        return lambda: x.sum(1)

    assert _record(looped(16)).count - _record(looped(8)).count >= 8
    assert _record(vectorized(16)).count == _record(vectorized(8)).count == 1


@native
def test_autograd_is_seen_from_an_input_or_the_engine():
    w = torch.randn(3, requires_grad=True)
    assert _record(lambda: w * 2).autograd is True
    y = (w * 2).sum()
    assert _record(lambda: y.backward()).autograd is True
    assert _record(lambda: torch.randn(3) * 2).autograd is False


@native
def test_turning_it_off_inside_a_recording_shows():
    rec = oprecord.NativeRecorder()
    with rec:
        assert rec.intact()
        torch.autograd._enable_record_function(False)
        try:
            assert not rec.intact()
        finally:
            torch.autograd._enable_record_function(True)
        assert rec.intact()
    rec = oprecord.NativeRecorder()
    with rec:
        torch._C._autograd._clear_callbacks()
        assert not rec.intact()
    assert not rec.intact()  # a recording that ended is not live either


@native
def test_names_longer_than_the_first_buffer_are_fetched_whole(monkeypatch):
    monkeypatch.setattr(oprecord, "_NAMES_BYTES", 8)
    x = torch.randn(4, 4)
    rec = _record(lambda: (x.sin(), x.cos(), x.exp(), x.sum(), x.amax(), x.t()))
    assert {"sin", "cos", "exp", "sum", "amax", "t"} <= rec.ops


@native
def test_one_recording_at_a_time():
    with oprecord.NativeRecorder(), pytest.raises(RuntimeError, match="on this thread"):
        with oprecord.NativeRecorder():
            pass
    assert _record(lambda: torch.ones(2) + 1).ops  # and the next one records


@native
def test_threads_record_their_own_ops_at_the_same_time():
    import threading

    barrier, got = threading.Barrier(2), {}

    def work(name, fn):
        rec = oprecord.NativeRecorder()
        with rec:
            barrier.wait()
            for _ in range(50):
                fn()
            barrier.wait()
        got[name] = rec

    x = torch.randn(8)
    threads = [threading.Thread(target=work, args=("relu", lambda: torch.relu(x))),
               threading.Thread(target=work, args=("exp", lambda: torch.exp(x)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "relu" in got["relu"].ops and "exp" not in got["relu"].ops  # (and clamp_min)
    assert got["exp"].ops == {"exp"}
    assert got["relu"].count == got["exp"].count == 50


def test_without_a_compiler_it_says_why_and_nothing_is_loaded(tmp_path, monkeypatch):
    monkeypatch.setattr(oprecord, "BUILD_DIR", tmp_path)
    monkeypatch.setenv("CXX", "false")
    why = oprecord.build()
    assert why.startswith("compiling oprecord.cpp failed"), why
    assert list(tmp_path.glob("*.so")) == [] and list(tmp_path.glob("*.tmp")) == []


def test_the_fallback_workers_use_the_python_recorders(python_zygote):
    from grader.boundary.session import WorkerSession

    src = "import torch\ndef f(a, b):\n    return torch.relu(a @ b)\n"
    with WorkerSession(python_zygote, "m", src) as s:
        r, _ = s.call("f", (torch.randn(3, 4), torch.randn(4, 2)))
    assert r.ok and {"mm", "relu"} <= set(r.ops) and "matmul" in r.functions
