"""The timing harness (grader.perf): structure, fairness plumbing, and that a submission
cannot fake its time. Timings are only asserted on gross separations (a Python loop that
is 50x+ slower against a limit of 8x), never on tight ratios.

A small synthetic assignment (row softmax, N=4096 rows) keeps these tests fast.
"""

from __future__ import annotations

import textwrap

import pytest
import torch

from grader import assignments, grading, perf

SPEC = """
name: perfdemo
title: "perf demo"
module: perfdemo
timeout: 20
functions:
  softmax_rows: out
  softmax_rows_fw: [out, cache]
tolerances:
  float64: {rtol: 1.0e-9, atol_scaled: 1.0e-10}
  float32: {rtol: 1.0e-4, atol_scaled: 1.0e-4}
tests:
  - id: perf_softmax
    points: 2
    visibility: hidden
    kind: performance
    functions: [softmax_rows]
    options:
      cpu: {max_ratio: 8.0}
      cuda: {max_ratio: 8.0, sizes: {N: 65536}}
      rounds: 5
      warmup: 1
  - id: perf_softmax_public
    points: 1
    visibility: public
    kind: performance
    functions: [softmax_rows]
    options:
      cpu: {max_ratio: 8.0}
      cuda: {max_ratio: 8.0}
      rounds: 3
      warmup: 1
  - id: perf_softmax_fw
    points: 1
    visibility: hidden
    kind: performance
    functions: [softmax_rows_fw]
    options:
      cpu: {max_ratio: 8.0}
      cuda: {max_ratio: 8.0}
      rounds: 3
      warmup: 1
"""

REFERENCE = '''
import torch


def softmax_rows(x):
    e = torch.exp(x - x.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)


def softmax_rows_fw(x):
    out = softmax_rows(x)
    return out, out
'''

HIDDEN = '''
def perf_softmax(t):
    def inputs(N, C, dtype):
        return (t.randn(N, C, dtype=dtype),)

    t.perf("softmax_rows", inputs, sizes={"N": 4096, "C": 32}, grow={"N": "the rows"},
           count_sizes={"N": 8})


def perf_softmax_fw(t):
    t.perf("softmax_rows_fw", lambda N, C, dtype: (t.randn(N, C, dtype=dtype),),
           sizes={"N": 4096, "C": 32}, grow=["N"], count_sizes={"N": 8})
'''

PUBLIC = '''
import torch


def native_softmax(x):
    return torch.softmax(x, dim=1)


def perf_softmax_public(t):
    t.perf("softmax_rows", lambda N, C, dtype: (t.randn(N, C, dtype=dtype),),
           sizes={"N": 4096, "C": 32}, grow=["N"], count_sizes={"N": 8},
           baseline=native_softmax, baseline_name="torch.softmax")
'''

STUB = '''
def softmax_rows(x):
    raise NotImplementedError("softmax_rows")


def softmax_rows_fw(x):
    raise NotImplementedError("softmax_rows_fw")
'''

LOOP = '''
import torch


def softmax_rows(x):
    rows = []
    for n in range(x.shape[0]):
        e = torch.exp(x[n] - x[n].max())
        rows.append(e / e.sum())
    return torch.stack(rows)


def softmax_rows_fw(x):
    out = softmax_rows(x)
    return out, out
'''

# Patches every clock the worker could reach, then loops: the clock is the grader's.
CLOCK_PATCH = '''
import time

import torch

_t = [0]
time.perf_counter = lambda: 0.0
time.perf_counter_ns = lambda: 0
time.monotonic = lambda: 0.0
time.monotonic_ns = lambda: 0
time.time = lambda: 0.0
torch.cuda.synchronize = lambda *a, **k: None
''' + LOOP.split("import torch", 1)[1]

# Returns the first answer it computed for every later call.
CACHING = REFERENCE + '''
_memo = {}


def _first(x):
    if "out" not in _memo:
        _memo["out"] = softmax_rows.__wrapped__(x)
    return _memo["out"]


_orig = softmax_rows
softmax_rows = _first
softmax_rows.__wrapped__ = _orig
'''

# Replaces the worker's timed-call handler: answer at once, without calling anything.
EARLY_ANSWER = REFERENCE + '''
import sys

from grader import wire

_W = sys.modules["grader.worker"].Worker


def _fast(self, req):
    sets = [self.objects.pop(n) for n in req.get("sets", []) if n in self.objects]
    outs = [torch.zeros_like(args[0]) for args, _ in sets]
    enc = wire.Encoder()
    return {"result": enc.encode(outs), "gpu_ms": [0.0]}, enc


_W.time = _fast
'''

WRONG = REFERENCE.replace("e / e.sum(dim=1, keepdim=True)", "e / e.sum()")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    a_dir = root / "assignments" / "perfdemo"
    r_dir = root / "reference" / "perfdemo"
    a_dir.mkdir(parents=True)
    r_dir.mkdir(parents=True)
    (a_dir / "assignment.yaml").write_text(SPEC)
    (a_dir / "perfdemo.py").write_text(STUB)
    (r_dir / "perfdemo.py").write_text(REFERENCE)
    (r_dir / "hidden_tests.py").write_text(HIDDEN)
    (a_dir / "public_tests.py").write_text(PUBLIC)
    a = assignments.load("perfdemo", root)
    return grading.load_suite(a, r_dir)


def _run(zygote, suite, source, test_id="perf_softmax", device="cpu", **settings):
    from grader.session import WorkerSession

    test = suite.assignment.test(test_id)
    with WorkerSession(zygote, "perfdemo", textwrap.dedent(source), device=device) as s:
        r = grading.run_test(suite, test, s, seed=7, device=device, static_uses={},
                             perf_settings=perf.PerfSettings(**settings) if settings else None)
    r.extra.pop("context", None)
    return r


def test_reference_passes_with_figures(zygote, demo):
    r = _run(zygote, demo, REFERENCE)
    assert r.passed and r.points == 2, r.output
    for key in ("ratio", "limit", "baseline_ms", "student_ms"):
        assert isinstance(r.extra[key], float), key
    assert r.extra["limit"] == 8.0
    f = r.extra["functions"][0]
    assert 3 <= f["rounds"] <= 5  # a clear pass may stop after 3 rounds
    assert f["op_counts"]["N"][0] == f["op_counts"]["N"][1]
    assert "the reference's time" in r.output


def test_cache_output_is_a_handle_not_timed(zygote, demo):
    r = _run(zygote, demo, REFERENCE, test_id="perf_softmax_fw")
    assert r.passed, r.output


def test_loop_fails_the_op_count_without_timing(zygote, demo):
    r = _run(zygote, demo, LOOP)
    assert r.points == 0 and not r.passed
    assert "loops over N" in r.output and "(the rows)" in r.output
    assert r.extra["ratio"] is None


def test_loop_fails_on_time_alone(zygote, demo):
    r = _run(zygote, demo, LOOP, opcount=False)
    assert r.points == 0
    assert r.extra["ratio"] > 16, r.extra  # a row loop is 50x+ here: gross, not tight
    assert "x the reference's time; the limit is 8x" in r.output


def test_patched_clocks_do_not_help(zygote, demo):
    r = _run(zygote, demo, CLOCK_PATCH, opcount=False)
    assert r.points == 0
    assert r.extra["ratio"] > 16, r.extra


def test_cached_outputs_are_caught(zygote, demo):
    r = _run(zygote, demo, CACHING)
    assert r.points == 0
    assert "output of a timed call is wrong" in r.output
    assert "values differ" in r.output


def test_answering_early_is_caught(zygote, demo):
    r = _run(zygote, demo, EARLY_ANSWER)
    assert r.points == 0
    assert "output of a timed call is wrong" in r.output


def test_not_attempted_is_not_timed(zygote, demo):
    r = _run(zygote, demo, STUB)
    assert r.points == 0 and r.not_attempted and r.output == "not attempted"
    assert r.extra["ratio"] is None


def test_wrong_output_is_not_timed(zygote, demo):
    r = _run(zygote, demo, WRONG)
    assert r.points == 0
    assert "not timed" in r.output and "values differ" in r.output
    assert r.extra["ratio"] is None


def test_calibration_settings_record_without_failing(zygote, demo):
    r = _run(zygote, demo, LOOP, enforce=False, early_stop=False, rounds=3)
    f = r.extra["functions"][0]
    assert r.passed  # nothing enforced: calibration reads the figures
    assert f["loops"] == ["N"] and f["ratio"] > 16 and f["rounds"] == 3


def test_public_test_with_a_native_baseline_needs_no_reference(zygote, demo):
    import dataclasses

    student_machine = dataclasses.replace(demo, reference=None, hidden_tests=None)
    r = _run(zygote, student_machine, REFERENCE, test_id="perf_softmax_public")
    assert r.passed, r.output
    assert "torch.softmax's time" in r.output
    r = _run(zygote, student_machine, WRONG, test_id="perf_softmax_public")
    assert r.points == 0 and "not timed" in r.output


def test_missing_limit_is_a_grader_error(demo):
    from grader.spec import TestSpec

    class T:
        test = TestSpec("perf_x", 1, "hidden", "performance", ("softmax_rows",), {}, 10,
                        options={"cpu": {}})
        device = "cpu"

    with pytest.raises(ValueError, match="options.cpu.max_ratio"):
        perf.measure(T(), "softmax_rows", lambda N: (), sizes={"N": 1})


def test_scheduling_delay_is_subtracted_but_never_below_cpu_time():
    # (own run delay, worker run delay, worker session CPU) before and after, in ns
    a = (0, 0, 0)
    # waited 60 of a 100 round trip, used 30 CPU: 40 counts
    assert perf.RunDelay.busy(100, a, (20, 40, 30)) == 40
    # never more than 90% taken away
    assert perf.RunDelay.busy(100, a, (100, 100, 5)) == 10
    # helpers inflating the main thread's delay: the session's CPU time is the floor
    assert perf.RunDelay.busy(100, a, (0, 90, 95)) == 95


def test_run_delay_reads_this_process():
    import os

    assert perf.host_pid(None, os.getpid()) == os.getpid()
    assert perf.host_pid(None, 2**22 + 12345) is None
    d = perf.RunDelay(os.getpid())
    own, worker, cpu = d.read()
    assert own >= 0 and worker >= 0 and cpu > 0


def test_the_worker_is_found_in_this_pid_namespace(zygote):
    """The fork server may live in its own pid namespace (bwrap): the pid it reports is
    not ours. The worker must still be found, and its CPU time read."""
    from grader.session import WorkerSession

    with WorkerSession(zygote, "m", "x = 1\n") as s:
        assert s.ensure() is None
        pid = perf.host_pid(zygote.proc.pid, s.pid)
        assert pid is not None
        with open(f"/proc/{pid}/status") as f:
            nspid = next(line.split()[1:] for line in f if line.startswith("NSpid:"))
        assert int(nspid[-1]) == s.pid
        assert perf.RunDelay(pid).read()[2] > 0  # it has used some CPU: importing


def test_timing_conditions_restore_threads():
    before = torch.get_num_threads()
    with perf.timing_conditions("cpu"):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_reference_passes_and_loop_fails(zygote, demo):
    r = _run(zygote, demo, REFERENCE, device="cuda")
    assert r.passed, r.output
    assert r.extra["functions"][0]["device"] == "cuda"
    assert not r.extra["functions"][0].get("gpu_check")
    r = _run(zygote, demo, CLOCK_PATCH, device="cuda", opcount=False)
    assert r.points == 0


def test_calibration_proposes_the_geometric_midpoint():
    from grader import calibrate

    p = calibrate.Proposal("perf_x", 6.0, slowest_legit=2.0, fastest_naive=50.0)
    assert p.threshold == pytest.approx(10.0)
    below, above = p.margins
    assert below == pytest.approx(5.0) and above == pytest.approx(5.0)
    assert calibrate.Proposal("perf_x", 6.0, 2.0, None).threshold is None


def test_calibration_sorts_variants_by_op_count_not_name(demo):
    from grader import calibrate

    samples = [calibrate.Sample("reference", "perf_softmax", [1.1, 1.3]),
               calibrate.Sample("naive_rows", "perf_softmax", [40.0, 55.0], loops=["N"]),
               calibrate.Sample("naive_other", "perf_softmax", [0.9, 1.4])]
    (p, *_) = calibrate.propose(demo.assignment.tests, samples, "cpu")
    assert p.slowest_legit == 1.4 and p.fastest_naive == 40.0
