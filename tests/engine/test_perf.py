"""The timing harness (grader.engine.perf): structure, fairness plumbing, and that a submission
cannot fake its time. Timings are only asserted on gross separations (a Python loop that
is 50x+ slower against a limit of 8x), never on tight ratios.

A small synthetic assignment (row softmax, N=4096 rows) keeps these tests fast.
"""

from __future__ import annotations

import textwrap

import pytest
import torch

from grader.engine import assignments, clock, grading, perf, rounds

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
    # A hand-written softmax against torch.softmax, inputs sent inside the timed request:
    # 3-8.5x measured under load; this test is about the native baseline, not the limit.
    options:
      cpu: {max_ratio: 20.0}
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

from grader.boundary import wire

_W = sys.modules["grader.boundary.worker"].Worker


def _fast(self, req, msg):
    outs = [torch.zeros_like(t) for t in msg.tensors]
    enc = wire.Encoder()
    return {"result": enc.encode(outs), "gpu_ms": [0.0]}, enc


_W.time = _fast
'''

# A loop that computes its answers while the worker takes in a timed call's inputs: it
# wraps the worker's staging request (reached through computed names), which ran before
# the grader's clock started. The inputs now arrive with the timed request itself.
STAGE_PRECOMPUTE = LOOP + """
import os

_W = getattr(os, "sy" + "s").modules["grader.boundary." + "worker"].Worker
_memo = {}
_loop = softmax_rows


def softmax_rows(x):
    return _memo.pop(id(x), None) if id(x) in _memo else _loop(x)


_stage = getattr(_W, "stage", None)
if _stage is not None:
    def _early(self, req, msg):
        reply = _stage(self, req, msg)
        args, _ = self.objects[reply["handle"]]
        _memo[id(args[0])] = _loop(args[0])
        return reply
    _W.stage = _early
"""

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
    from grader.boundary.session import WorkerSession

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


def test_answers_computed_before_the_clock_starts_do_not_help(zygote, demo):
    r = _run(zygote, demo, STAGE_PRECOMPUTE, opcount=False)
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


def _run_shared(zygote, suite, source, test_ids, shared, **settings):
    """Tests of one submission, in order, in one worker, sharing timed rounds."""
    from grader.boundary.session import WorkerSession

    out = []
    with WorkerSession(zygote, "perfdemo", textwrap.dedent(source)) as s:
        for test_id in test_ids:
            r = grading.run_test(
                suite, suite.assignment.test(test_id), s, seed=7, device="cpu",
                static_uses={}, shared_rounds=shared,
                perf_settings=perf.PerfSettings(**settings) if settings else None)
            r.extra.pop("context", None)
            out.append(r)
    return out


def test_two_tests_timing_one_function_share_the_students_rounds(zygote, demo):
    hidden, public, again = _run_shared(
        zygote, demo, REFERENCE, ["perf_softmax", "perf_softmax_public", "perf_softmax"], {})
    assert hidden.passed and public.passed and again.passed, (hidden.output, public.output)
    h, p, a = (r.extra["functions"][0] for r in (hidden, public, again))
    # the public test timed torch.softmax on the hidden test's inputs, against the
    # student's times of those rounds; its own baseline, its own figure
    assert p["rounds_from"] == "perf_softmax" and "rounds_from" not in h
    assert p["student_ms"] == h["student_ms"] and p["rounds"] == h["rounds"]
    assert p["baseline"] == "torch.softmax" and p["limit"] == 20.0
    # rounds are used once, and never by the test that timed them
    assert "rounds_from" not in a


def test_a_loop_fails_both_tests_that_share_its_rounds(zygote, demo):
    results = _run_shared(zygote, demo, LOOP, ["perf_softmax", "perf_softmax_public"], {},
                          opcount=False)
    for r in results:
        assert r.points == 0 and "limit" in r.output, r.output
        assert all(x > r.extra["limit"] for x in r.extra["functions"][0]["measured"])


def test_rounds_that_disagree_with_another_baseline_are_not_reused(zygote, demo):
    # Rounds whose outputs the public test's baseline does not reproduce (inputs it was
    # not written for): the public test times the student itself, and passes.
    x = torch.randn(4096, 32, dtype=torch.float64)
    key = rounds.share_key("softmax_rows", "cpu", {"N": 4096, "C": 32,
                                                   "dtype": torch.float64}, 1, ())
    shared = {key: rounds.SharedRounds(
        "perf_softmax", [([((x,), {})], [torch.zeros_like(x)], 1000.0)] * 3, 0.1)}
    (public,) = _run_shared(zygote, demo, REFERENCE, ["perf_softmax_public"], shared)
    assert public.passed, public.output
    assert "rounds_from" not in public.extra["functions"][0] and key in shared
    assert shared[key].producer == "perf_softmax_public"
    # inputs the baseline cannot take at all (softmax over dim 1 of a vector): the same
    shared = {key: rounds.SharedRounds(
        "perf_softmax", [([((x[0],), {})], [x[0]], 1000.0)] * 3, 0.1)}
    (public,) = _run_shared(zygote, demo, REFERENCE, ["perf_softmax_public"], shared)
    assert public.passed and "rounds_from" not in public.extra["functions"][0], public.output


def test_scheduling_delay_is_subtracted_but_never_below_cpu_time():
    # (own run delay, worker run delay, worker session CPU) before and after, in ns
    a = (0, 0, 0)
    # waited 60 of a 100 round trip, used 30 CPU: 40 counts
    assert clock.RunDelay.busy(100, a, (20, 40, 30)) == 40
    # never more than 90% taken away
    assert clock.RunDelay.busy(100, a, (100, 100, 5)) == 10
    # helpers inflating the main thread's delay: the session's CPU time is the floor
    assert clock.RunDelay.busy(100, a, (0, 90, 95)) == 95


def test_run_delay_reads_this_process():
    import os

    assert clock.host_pid(None, os.getpid()) == os.getpid()
    assert clock.host_pid(None, 2**22 + 12345) is None
    d = clock.RunDelay(os.getpid())
    own, worker, cpu = d.read()
    assert own >= 0 and worker >= 0 and cpu > 0


def test_the_worker_is_found_in_this_pid_namespace(zygote):
    """The fork server may live in its own pid namespace (bwrap): the pid it reports is
    not ours. The worker must still be found, and its CPU time read."""
    from grader.boundary.session import WorkerSession

    with WorkerSession(zygote, "m", "x = 1\n") as s:
        assert s.ensure() is None
        pid = clock.host_pid(zygote.proc.pid, s.pid)
        assert pid is not None
        with open(f"/proc/{pid}/status") as f:
            nspid = next(line.split()[1:] for line in f if line.startswith("NSpid:"))
        assert int(nspid[-1]) == s.pid
        assert clock.RunDelay(pid).read()[2] > 0  # it has used some CPU: importing


def test_timing_conditions_restore_threads():
    before = torch.get_num_threads()
    with clock.timing_conditions("cpu"):
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
    from grader.authoring import calibrate

    p = calibrate.Proposal("perf_x", 6.0, slowest_legit=2.0, fastest_naive=50.0)
    assert p.threshold == pytest.approx(10.0)
    below, above = p.margins
    assert below == pytest.approx(5.0) and above == pytest.approx(5.0)
    assert calibrate.Proposal("perf_x", 6.0, 2.0, None).threshold is None


def test_calibration_sorts_variants_by_op_count_not_name(demo):
    from grader.authoring import calibrate

    samples = [calibrate.Sample("reference", "perf_softmax", [1.1, 1.3]),
               calibrate.Sample("naive_rows", "perf_softmax", [40.0, 55.0], loops=["N"]),
               calibrate.Sample("naive_other", "perf_softmax", [0.9, 1.4])]
    (p, *_) = calibrate.propose(demo.assignment.tests, samples, "cpu")
    assert p.slowest_legit == 1.4 and p.fastest_naive == 40.0


# ---------------------------------------------------------------------------- outputs no
# baseline can match: a random mask (`check`), an optimizer state in the student's own
# format (`compare`)

RAND_SPEC = """
name: perfrand
title: "perf demo: random outputs and private state"
module: perfrand
timeout: 20
functions:
  drop_half: [out, cache]
  decay_step: [w, state]
tolerances:
  float64: {rtol: 1.0e-9, atol_scaled: 1.0e-10}
  float32: {rtol: 1.0e-4, atol_scaled: 1.0e-4}
tests:
  - {id: perf_drop, points: 1, visibility: hidden, kind: performance, functions: [drop_half],
     options: {cpu: {max_ratio: 8.0}, cuda: {max_ratio: 8.0}, rounds: 3}}
  - {id: perf_drop_public, points: 1, visibility: public, kind: performance,
     functions: [drop_half], options: {cpu: {max_ratio: 8.0}, cuda: {max_ratio: 8.0},
     rounds: 3}}
  - {id: perf_drop_bad_check, points: 1, visibility: hidden, kind: performance,
     functions: [drop_half], options: {cpu: {max_ratio: 8.0}, cuda: {max_ratio: 8.0},
     rounds: 3}}
  - {id: perf_step, points: 1, visibility: hidden, kind: performance,
     functions: [decay_step], options: {cpu: {max_ratio: 8.0}, cuda: {max_ratio: 8.0},
     rounds: 5}}
  - {id: perf_step_public, points: 1, visibility: public, kind: performance,
     functions: [decay_step], options: {cpu: {max_ratio: 8.0}, cuda: {max_ratio: 8.0},
     rounds: 3}}
  - {id: perf_step_every_output, points: 1, visibility: hidden, kind: performance,
     functions: [decay_step], options: {cpu: {max_ratio: 8.0}, cuda: {max_ratio: 8.0},
     rounds: 3}}
"""

RAND_REFERENCE = '''
import torch


def drop_half(x, generator=None):
    keep = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) >= 0.5
    return x * keep * 2.0, keep


def decay_step(w, dw, state):
    v = dw.clone() if state is None else 0.5 * state["v"] + dw
    return w - 0.1 * v, {"v": v}
'''

RAND_TESTS = '''
import torch


def _drop_inputs(t):
    def inputs(N, C, dtype):
        return t.rand(N, C, low=0.5, high=2.0).to(dtype), t.generator(t.seed())
    return inputs


def check_drop(outputs, args, kwargs):
    out, x = outputs[0], args[0]
    if not isinstance(out, torch.Tensor) or out.shape != x.shape or out.dtype != x.dtype:
        return "out must be a tensor shaped like x, of its dtype", "out: wrong type or shape"
    kept = out != 0
    if not torch.allclose(out[kept], 2 * x[kept], rtol=1e-9, atol=0.0):
        return "kept units must be 2 x"
    frac = 1.0 - float(kept.double().mean())
    if abs(frac - 0.5) > 6 * (0.25 / x.numel()) ** 0.5:
        return f"{frac:.4f} of the units were dropped, not about half"
    return None


def native_drop(x, generator=None):
    keep = torch.empty_like(x).bernoulli_(0.5, generator=generator)
    return x * keep * 2.0, None


def native_step(w, dw, state):
    return w - 0.1 * dw, [dw.clone()]   # a state format of its own


def _step_inputs(t):
    return lambda N, dtype: (t.randn(N, dtype=dtype), t.randn(N, dtype=dtype), None)


def perf_drop(t):
    t.perf("drop_half", _drop_inputs(t), sizes={"N": 4096, "C": 32}, grow=["N"],
           count_sizes={"N": 8}, check=check_drop)


def perf_drop_public(t):
    t.perf("drop_half", _drop_inputs(t), sizes={"N": 4096, "C": 32}, grow=["N"],
           count_sizes={"N": 8}, check=check_drop, baseline=native_drop,
           baseline_name="bernoulli_")


def perf_drop_bad_check(t):
    t.perf("drop_half", _drop_inputs(t), sizes={"N": 64, "C": 8},
           check=lambda outputs, args, kwargs: "never right")


def perf_step(t):
    t.perf("decay_step", _step_inputs(t), sizes={"N": 1 << 17}, grow=["N"],
           count_sizes={"N": 8}, compare=["w"])


def perf_step_public(t):
    t.perf("decay_step", _step_inputs(t), sizes={"N": 1 << 17}, grow=["N"],
           count_sizes={"N": 8}, compare=("w",), baseline=native_step,
           baseline_name="native_step")


def perf_step_every_output(t):
    t.perf("decay_step", _step_inputs(t), sizes={"N": 1 << 17})
'''

DROP_ALL_KEPT = RAND_REFERENCE.replace("x * keep * 2.0, keep", "x * 2.0, keep")
# Right on the first call, then returns that first answer every time.
DROP_CACHED = RAND_REFERENCE + '''
_memo = []
_drop = drop_half


def drop_half(x, generator=None):
    if not _memo:
        _memo.append(_drop(x, generator))
    return _memo[0]
'''
DROP_LOOP = RAND_REFERENCE.replace(
    "    keep = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) >= 0.5\n"
    "    return x * keep * 2.0, keep",
    "    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)\n"
    "    rows = [x[n] * (u[n] >= 0.5) * 2.0 for n in range(x.shape[0])]\n"
    "    return torch.stack(rows), u")
STEP_OTHER_STATE = '''
def drop_half(x, generator=None):
    raise NotImplementedError


def decay_step(w, dw, state):
    velocity = dw.clone() if state is None else state["velocity"] * 0.5 + dw
    return w - velocity * 0.1, {"velocity": velocity, "steps": 1 if state is None else 2}
'''
STEP_WRONG = RAND_REFERENCE.replace("w - 0.1 * v", "w - 0.2 * v")
# The reference's step, delayed by 200 ms in the first `STALLED` calls at the timed size
# (the correctness call, the warm-up and 3 rounds: one measurement): a machine that
# stalled while it was timed. 0 stalls none; a large count stalls every call.
STEP_STALLED = RAND_REFERENCE.replace("def decay_step(w, dw, state):\n", """
import time
_calls = [0]


def decay_step(w, dw, state):
    if w.shape[0] == 1 << 17:
        _calls[0] += 1
        if _calls[0] <= STALLED:
            time.sleep(0.2)  # 60x+ even if load slows the 0.6 ms baseline to 3 ms
""")


@pytest.fixture(scope="module")
def rand_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("rand")
    a_dir = root / "assignments" / "perfrand"
    r_dir = root / "reference" / "perfrand"
    a_dir.mkdir(parents=True)
    r_dir.mkdir(parents=True)
    (a_dir / "assignment.yaml").write_text(RAND_SPEC)
    (a_dir / "perfrand.py").write_text("def drop_half(x, generator=None):\n    raise "
                                       "NotImplementedError\n\n\ndef decay_step(w, dw, "
                                       "state):\n    raise NotImplementedError\n")
    (r_dir / "perfrand.py").write_text(RAND_REFERENCE)
    (r_dir / "hidden_tests.py").write_text(RAND_TESTS)
    (a_dir / "public_tests.py").write_text(RAND_TESTS)
    a = assignments.load("perfrand", root)
    return grading.load_suite(a, r_dir)


def _run_rand(zygote, suite, source, test_id, **settings):
    from grader.boundary.session import WorkerSession

    test = suite.assignment.test(test_id)
    with WorkerSession(zygote, "perfrand", textwrap.dedent(source)) as s:
        r = grading.run_test(suite, test, s, seed=11, device="cpu", static_uses={},
                             perf_settings=perf.PerfSettings(**settings) if settings else None)
    r.extra.pop("context", None)
    return r


def test_random_outputs_are_checked_by_property(zygote, rand_demo):
    import dataclasses

    r = _run_rand(zygote, rand_demo, RAND_REFERENCE, "perf_drop")
    assert r.passed, r.output
    assert "the reference's time" in r.output and r.extra["ratio"] < 8
    # public: a native baseline drawing its own mask, no reference needed
    student_machine = dataclasses.replace(rand_demo, reference=None, hidden_tests=None)
    r = _run_rand(zygote, student_machine, RAND_REFERENCE, "perf_drop_public")
    assert r.passed, r.output
    assert "bernoulli_'s time" in r.output


def test_random_outputs_failing_the_property_are_not_timed(zygote, rand_demo):
    import dataclasses

    r = _run_rand(zygote, rand_demo, DROP_ALL_KEPT, "perf_drop")
    assert r.points == 0 and r.extra["ratio"] is None
    # hidden: the check's hidden message (here none given: a generic one)
    assert "not timed" in r.output and "a required property does not hold" in r.output
    student_machine = dataclasses.replace(rand_demo, reference=None, hidden_tests=None)
    r = _run_rand(zygote, student_machine, DROP_ALL_KEPT, "perf_drop_public")
    assert r.points == 0 and "0.0000 of the units were dropped" in r.output


def test_random_outputs_are_checked_every_round(zygote, rand_demo):
    r = _run_rand(zygote, rand_demo, DROP_CACHED, "perf_drop")
    assert r.points == 0
    assert "output of a timed call is wrong" in r.output


def test_random_output_loop_fails_on_time_alone(zygote, rand_demo):
    r = _run_rand(zygote, rand_demo, DROP_LOOP, "perf_drop", opcount=False)
    assert r.points == 0
    assert r.extra["ratio"] > 16, r.extra  # a row loop: gross, not tight
    r = _run_rand(zygote, rand_demo, DROP_LOOP, "perf_drop")
    assert r.points == 0 and "loops over N" in r.output


def test_a_check_the_baseline_fails_is_a_grader_error(zygote, rand_demo):
    with pytest.raises(ValueError, match="baseline .reference. fails the test's check"):
        _run_rand(zygote, rand_demo, RAND_REFERENCE, "perf_drop_bad_check")


def test_compare_leaves_the_student_state_alone(zygote, rand_demo):
    import dataclasses

    for source in (RAND_REFERENCE, STEP_OTHER_STATE):
        r = _run_rand(zygote, rand_demo, source, "perf_step")
        assert r.passed, r.output
    student_machine = dataclasses.replace(rand_demo, reference=None, hidden_tests=None)
    r = _run_rand(zygote, student_machine, STEP_OTHER_STATE, "perf_step_public")
    assert r.passed, r.output
    assert "native_step's time" in r.output
    # without `compare`, the state is compared too, and a format of one's own fails
    r = _run_rand(zygote, rand_demo, STEP_OTHER_STATE, "perf_step_every_output")
    assert r.points == 0 and "not timed" in r.output
    # w is still compared
    r = _run_rand(zygote, rand_demo, STEP_WRONG, "perf_step")
    assert r.points == 0 and "not timed" in r.output and r.extra["ratio"] is None


def test_a_figure_over_the_limit_is_measured_again_and_the_better_stands(zygote, rand_demo):
    stalled_once = STEP_STALLED.replace("STALLED", "5")
    r = _run_rand(zygote, rand_demo, stalled_once, "perf_step")
    assert r.passed, r.output
    first, second = r.extra["functions"][0]["measured"]
    assert first > 8 >= second and r.extra["ratio"] == second
    # slow every time: over the limit both times, and the test says so
    r = _run_rand(zygote, rand_demo, STEP_STALLED.replace("STALLED", "10**6"), "perf_step")
    assert r.points == 0 and "the better of two measurements" in r.output
    assert all(x > 8 for x in r.extra["functions"][0]["measured"])
    # a figure within the limit is measured once
    r = _run_rand(zygote, rand_demo, STEP_STALLED.replace("STALLED", "0"), "perf_step")
    assert r.passed and "measured" not in r.extra["functions"][0]


def test_outputs_left_out_of_compare_stay_in_the_worker(rand_demo):
    import types

    t = types.SimpleNamespace(assignment=rand_demo.assignment)
    assert perf._kept(t, "decay_step", ("w",)) == (1,)
    assert perf._kept(t, "decay_step", None) == ()
    assert perf._kept(t, "drop_half", None) == (1,)


def test_the_probe_echoes_every_set(zygote):
    """With `sets` calls per timed request, the probe must send back as much as the
    student does: one set's outputs per call, not the same tensors `sets` times (the wire
    sends a tensor object once per reply, so that would cost one set)."""
    from grader.boundary.session import WorkerSession

    outputs = [(torch.full((4,), float(i)), None) for i in range(3)]
    probe = WorkerSession(zygote, rounds.PROBE_MODULE, rounds.PROBE_SOURCE)
    try:
        probe.ensure()
        d = clock.RunDelay(None)
        assert rounds._probe_round_trip(probe, outputs, [((), {})] * 3, 10.0, d) > 0
        r = probe.time("echo", [((), {})] * 3, timeout=10.0)
        got = r.value
        assert [float(o[0][0]) for o in got] == [0.0, 1.0, 2.0]
    finally:
        probe.close()


def test_sizes_may_live_in_the_spec_alone_and_a_missing_one_is_named():
    """t.perf needs no sizes= when the spec's options give them (one place says them); a
    size make_inputs needs that neither gives fails before anything runs, naming it."""
    from types import SimpleNamespace

    from grader.engine import spec as spec_mod

    def t_with(sizes):
        test = SimpleNamespace(id="perf_x", perf={"cpu": spec_mod.PerfOptions(
            max_ratio=2.0, sizes=sizes)})
        return SimpleNamespace(test=test, device="cpu")

    def inputs(N, D, dtype):
        raise AssertionError("not reached: the sizes are checked first")

    with pytest.raises(ValueError, match=r"perf_x: no size given for D \(expected "
                                         r"options.sizes or options.cpu.sizes"):
        perf.measure(t_with({"N": 8}), "f", inputs)
    with pytest.raises(ValueError, match="no size given for N, D"):
        perf.measure(t_with({}), "f", inputs)


def test_the_students_worker_is_held_still_while_its_probe_is_timed():
    """A worker idle between requests can still run code (a signal handler on an interval
    timer) and slow its probe, inflating the overhead subtracted from its own time: the
    round loop stops it (SIGSTOP via a pidfd) for the baseline and the probe."""
    import subprocess
    import sys

    from grader.engine.clock import Stopper, _wait_state

    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        stopper = Stopper(busy.pid)
        with stopper.stopped() as stopped:
            assert stopped
            assert _wait_state(busy.pid, "Tt", timeout=0.01)
        assert _wait_state(busy.pid, "R", timeout=1.0)  # running again
        busy.kill()
        busy.wait()
        with stopper.stopped() as stopped:  # gone: nothing to stop, and no error
            assert not stopped
        stopper.close()
    finally:
        busy.kill()
        busy.wait()


def _hold_slots(paths: list[str], seconds: float):
    """Another process holding the lock files `paths` for `seconds` (returns once held)."""
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"for p in {paths!r}:\n"
        "    fcntl.flock(os.open(p, os.O_RDWR | os.O_CREAT, 0o600), fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        f"time.sleep({seconds})\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def _wait_for_turn(lock, device: str) -> float:
    import time

    start = time.monotonic()
    with lock.turn(device):
        return time.monotonic() - start


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_the_timing_lock_takes_turns_across_the_processes_that_share_it(tmp_path, device):
    """With one slot, the job processes of `grade --jobs N` never time at once: another
    process holding the shared lock file keeps this one's timing waiting until it lets
    go."""
    path = str(tmp_path / "timing.lock")
    holder = _hold_slots([path], 1.0)
    try:
        lock = clock.TimingLock()
        lock.share(path, slots=1)
        waited = _wait_for_turn(lock, device)
    finally:
        holder.wait(timeout=10)
    assert waited > 0.5, f"timed after {waited:.2f} s while another process held the lock"


def test_the_cpu_has_a_timing_slot_per_core_and_cuda_one_in_all(tmp_path):
    """Two slots: the CPU times at once beside another process's timed section (they
    share no core), but not beside two; CUDA waits for the one GPU slot even with a CPU
    slot free."""
    path = str(tmp_path / "timing.lock")
    lock = clock.TimingLock()
    lock.share(path, slots=2)
    holder = _hold_slots([path], 1.0)
    try:
        assert _wait_for_turn(lock, "cpu") < 0.5, "waited with a slot free"
        waited = _wait_for_turn(lock, "cuda")
    finally:
        holder.wait(timeout=10)
    assert waited > 0.5, f"CUDA timed after {waited:.2f} s beside another GPU timer"
    holder = _hold_slots([path, path + ".1"], 1.0)
    try:
        waited = _wait_for_turn(lock, "cpu")
    finally:
        holder.wait(timeout=10)
    assert waited > 0.5, f"timed after {waited:.2f} s with both slots held"
    with pytest.raises(ValueError, match="1 slot or more; got 0"):
        lock.share(path, slots=0)
