"""Performance tests: time a student function against a baseline, fairly and unfakeably.

A performance test (`kind: performance`, id `perf_*`) calls `t.perf(...)` (this module's
`measure`) once per function it times:

    def perf_mlp(t):
        def inputs(N, dtype):
            return (_params(t, WIDTHS, dtype), t.randn(N, WIDTHS[0], dtype=dtype),
                    t.randint(0, WIDTHS[-1], N))
        t.perf("mlp_loss", inputs, sizes={"N": 4096}, grow={"N": "the batch"})

What happens, in order, inside one `t.case` (so a failure is that function's 0 points):

1. Correctness first: the function runs once on inputs of the timed size and is compared
   with the reference (or the native baseline), with the usual checks (forbidden ops,
   inputs modified in place). A failing or unattempted function is not timed.
2. The op count (grader.engine.opcount): the aten ops the function dispatches at two sizes of
   each dimension in `grow`; a count that grows with the batch is a Python loop.
3. Timing, in rounds. Round i draws fresh inputs, stages them in the worker (untimed), then
   times the baseline in this (trusted) process, then an honest probe worker's echo of
   outputs of the same size (the fixed cost of a round trip), then the student. The
   student's time is the round trip of one `time` request on this process's clock, less
   the probe's; its outputs come back in that same reply and are checked against the
   baseline's every round. The figure is the median of the per-round ratios.

Why it cannot be faked: the worker's clock is never read (patching `time.perf_counter`
there changes nothing); the timed reply must carry correct outputs for inputs it has
not seen before, so skipping a CUDA synchronization or answering early leaves nothing
correct to send, and caching outputs across calls returns the previous round's answer;
the overhead subtracted comes from a separate worker running no student code, and at
most half of a round trip is ever subtracted (an attacker who slowed the probe
gains at most 2x; a loop is 20x or more).

Fairness: both sides run with one thread, gc off, on the same device, with the same
inputs, one after the other (never concurrently: `TIMING_LOCK` serializes timing in a
process). On CUDA the L2 is flushed before every timed call on both sides (a 256 MB
write), each call is bracketed by synchronizations, and CUDA events cross-check the wall
clock. TF32 is off on both sides (DESIGN: correctness on CUDA runs without it).
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import os
import statistics
import threading
import time
import types as _types
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from grader.boundary.session import WorkerSession, as_plain
from grader.boundary.wire import GeneratorSpec
from grader.engine import compare, opcount
from grader.engine.spec import Tolerance

TIMING_LOCK = threading.Lock()
"""Held while a test times anything: two submissions timed at once would share cores."""

FLUSH_MB = 256
PROBE_MODULE = "dlgrade_probe"
PROBE_SOURCE = '''
_kept = []
_next = [0]


def keep(outputs):
    _kept[:] = list(outputs)
    _next[0] = 0


def echo():
    # Each call of a timed request returns another set's outputs: the wire sends a tensor
    # object once per reply, so echoing the same outputs `sets` times would cost one set.
    i = _next[0]
    _next[0] = (i + 1) % len(_kept)
    return _kept[i]
'''
EARLY_FAIL, EARLY_PASS = 4.0, 3.0
"""After 3 rounds, a median over 4x the limit fails and one under a third of it passes:
decided either way, so most submissions cost 4 rounds, not 10."""
MAX_OVERHEAD_FRACTION = 0.5
"""The most of a student's round trip that the probe's overhead may cancel."""
CHECK_TOLERANCE_FACTOR = 4.0
"""Per-round checks compare with the baseline at the same dtype: both sides round."""
DEBUG = False
DEFAULT_DTYPES = {"cpu": torch.float64, "cuda": torch.float32}


def _whose(baseline: str) -> str:
    """"the reference's", or a native op's own name: "torch.optim.Adam's"."""
    return "the reference's" if baseline == "reference" else f"{baseline}'s"


@dataclass
class PerfSettings:
    """How a run of performance tests behaves (grading uses the defaults)."""

    rounds: int | None = None
    """Override the spec's round count."""
    warmup: int | None = None
    """Untimed rounds first (default 1: the correctness check already ran it once)."""
    opcount: bool = True
    """Run the op-count check (calibration turns it off to time naive code too)."""
    enforce: bool = True
    """Fail the case when the ratio is over the limit or the op count grows (calibration
    only records them)."""
    early_stop: bool = True
    """Stop timing after 3 rounds when the median is far from the limit (EARLY_FAIL,
    EARLY_PASS): decided."""


@dataclass
class Measurement:
    """One timed function: what TestResult.extra and the calibration report hold."""

    fn: str
    limit: float
    device: str
    baseline: str
    ratio: float | None = None
    baseline_ms: float | None = None
    student_ms: float | None = None
    ratios: list[float] = field(default_factory=list)
    overhead_ms: float = 0.0
    op_counts: dict = field(default_factory=dict)
    loops: list[str] = field(default_factory=list)
    """Dimensions whose op count grew (a Python loop over them)."""
    reason: str = ""
    """Why it was not timed (empty when it was)."""
    gpu_check: str = ""
    """"" or a note that CUDA events disagree with the wall clock."""
    sizes: dict = field(default_factory=dict)

    @property
    def timed(self) -> bool:
        return self.ratio is not None

    def as_extra(self) -> dict:
        out = {"fn": self.fn, "ratio": _r(self.ratio), "limit": self.limit,
               "baseline_ms": _r(self.baseline_ms), "student_ms": _r(self.student_ms),
               "rounds": len(self.ratios), "device": self.device, "baseline": self.baseline,
               "overhead_ms": _r(self.overhead_ms),
               "sizes": {k: v for k, v in self.sizes.items() if isinstance(v, int)}}
        if self.op_counts:
            out["op_counts"] = self.op_counts
            out["loops"] = self.loops
        if self.reason:
            out["reason"] = self.reason
        if self.gpu_check:
            out["gpu_check"] = self.gpu_check
        return out


def _r(x):
    return None if x is None else round(float(x), 4)


def device_class(device: str) -> str:
    return "cuda" if str(device).startswith("cuda") else "cpu"


def settings_of(t) -> PerfSettings:
    return getattr(t, "perf_settings", None) or PerfSettings()


def results_of(t) -> list[Measurement]:
    if getattr(t, "perf_results", None) is None:
        t.perf_results = []
    return t.perf_results


# ---------------------------------------------------------------------------- helpers


def to_device(value, device):
    """Inputs as the baseline gets them: on the device, generators made as the worker
    makes them."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, GeneratorSpec):
        return torch.Generator(device=device).manual_seed(value.seed)
    if isinstance(value, tuple):
        return tuple(to_device(v, device) for v in value)
    if isinstance(value, list):
        return [to_device(v, device) for v in value]
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value


@contextlib.contextmanager
def timing_conditions(device: str):
    """One thread, gc off, TF32 off: the conditions every timed call in this process gets."""
    threads = torch.get_num_threads()
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        torch.set_num_threads(threads)
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32


class Clock:
    """Times calls in this (trusted) process, the way the worker's `time` op runs them."""

    def __init__(self, device: str, flush_mb: int = FLUSH_MB):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.own_delay = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        self.flush = (torch.empty(flush_mb * 1024 * 1024 // 4, dtype=torch.float32,
                                  device=self.device) if self.cuda and flush_mb else None)

    def call(self, fn: Callable, args, kwargs) -> tuple[object, int, float | None]:
        """(outputs, wall ns, CUDA-event ms or None) of one call."""
        if self.flush is not None:
            self.flush.zero_()
        if self.cuda:
            torch.cuda.synchronize(self.device)
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
        d0 = _schedstat_delay(self.own_delay)
        t0 = time.perf_counter_ns()
        out = fn(*args, **kwargs)
        if self.cuda:
            end.record()
            torch.cuda.synchronize(self.device)
        ns = time.perf_counter_ns() - t0
        d1 = _schedstat_delay(self.own_delay)
        if d0 is not None and d1 is not None:
            ns -= min(max(0, d1 - d0), int(ns * MAX_DELAY_FRACTION))
        return out, ns, (start.elapsed_time(end) if self.cuda else None)


def _schedstat_delay(path: str) -> int | None:
    """run_delay (ns spent runnable but waiting for a CPU) from a schedstat file."""
    try:
        with open(path) as f:
            return int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None


class RunDelay:
    """Time the kernel kept the worker's main thread (and this thread) waiting for a CPU,
    and the CPU time the worker's whole session used.

    On a loaded machine a round trip to the worker includes waiting to be scheduled, on
    both ends; that is load, not the submission. The kernel's per-task accounting
    (/proc/<pid>/schedstat: run_delay) measures it and cannot be changed from inside the
    worker. Time the worker spends blocked (waiting for a helper it started, say) is not
    run delay, so it still counts. A worker could inflate its main thread's run delay by
    running helpers (threads or processes) beside it, so the time kept is never less than
    the CPU time of the worker's process tree (its threads, its descendants, and the
    children it reaped; a daemon that left the tree is not seen: the sandbox's process
    limits are the defence there). Where /proc is unreadable (another OS) or the worker
    cannot be found in it, nothing is subtracted: the plain wall clock, which load only
    inflates.
    """

    def __init__(self, pid: int | None):
        """`pid`: the worker's pid in this process's namespace (see host_pid)."""
        self.own = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        self.pid = pid

    def read(self) -> tuple[int, int, int]:
        """(this thread's run delay, the worker's main-thread run delay, session CPU ns)."""
        own = _schedstat_delay(self.own) or 0
        if self.pid is None:
            return own, 0, 0
        worker = _schedstat_delay(f"/proc/{self.pid}/schedstat") or 0
        return own, worker, _session_cpu_ns(self.pid)

    @staticmethod
    def between(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int]:
        """(run delay to subtract, CPU time the worker's session used) between reads."""
        return max(0, b[0] - a[0]) + max(0, b[1] - a[1]), max(0, b[2] - a[2])

    @staticmethod
    def busy(wall_ns: int, a, b) -> int:
        """A round trip's wall time less scheduling delay, never less than the CPU used."""
        waited, cpu = RunDelay.between(a, b)
        return max(wall_ns - min(waited, int(wall_ns * MAX_DELAY_FRACTION)), cpu)


_TICK_NS = 10**9 // (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


def _session_cpu_ns(pid: int) -> int:
    """CPU time of the worker and every process below it: each thread's schedstat, plus
    the children each has reaped (cutime + cstime, in clock ticks)."""
    total, todo, seen = 0, [pid], set()
    while todo and len(seen) < 4096:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[13]) + int(fields[14])) * _TICK_NS  # cutime, cstime
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def host_pid(root: int | None, pid: int | None) -> int | None:
    """The worker's pid as this process sees it, or None.

    The fork server reports pids in its own pid namespace (bubblewrap gives it one), so
    the worker is looked up below the fork server's process (`root`, as started here) by
    the last entry of NSpid in /proc/<p>/status: its pid in the innermost namespace.
    """
    if not pid:
        return None
    todo, seen = [root if root else pid], set()
    while todo and len(seen) < 4096:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as f:
                nspid = next((line.split()[1:] for line in f if line.startswith("NSpid:")), [])
            if nspid and int(nspid[-1]) == pid and (len(nspid) > 1 or p == pid):
                return p
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError, IndexError):
            continue
    return None


MAX_DELAY_FRACTION = 0.9
"""Never take more than this share of a round trip away as scheduling delay."""


def _strip(value, keep: tuple[int, ...]):
    """Outputs as the time op returns them: caches replaced (None here, a handle there)."""
    if keep and isinstance(value, tuple):
        return tuple(None if i in keep else v for i, v in enumerate(value))
    return value


def _call_inputs(made) -> tuple[tuple, dict]:
    if isinstance(made, tuple) and len(made) == 2 and isinstance(made[1], dict) \
            and isinstance(made[0], tuple):
        return made
    if isinstance(made, tuple):
        return made, {}
    return (made,), {}


def _make(make_inputs, sizes: dict):
    params = inspect.signature(make_inputs).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return _call_inputs(make_inputs(**sizes))
    return _call_inputs(make_inputs(**{k: v for k, v in sizes.items() if k in params}))


def _fmt_ms(ns: float) -> str:
    ms = ns / 1e6
    return f"{ms:.3g} ms" if ms < 100 else f"{ms:.0f} ms"


# ---------------------------------------------------------------------------- the test API


def measure(t, fn: str, make_inputs: Callable, *, sizes: dict | None = None, grow=(),
            count_sizes: dict | None = None, baseline: str | Callable = "reference",
            baseline_name: str | None = None, label: str | None = None,
            compare: tuple[str, ...] | list[str] | None = None,
            check: Callable | None = None) -> Measurement:
    """Check, op-count and time the student's `fn` against a baseline (see module doc).

    make_inputs(**sizes, dtype=...) draws one call's inputs from `t` and returns the
    positional arguments (a tuple) or (args, kwargs). The timed problem sizes are the
    spec's `options.sizes`, overridden per device class by `options.<cpu|cuda>.sizes`;
    `sizes` here are defaults under those (a test may leave them all to the spec, so that
    one place says them).
    `grow`: the dimensions whose op count must not grow (a list, or a dict naming each:
    {"N": "the batch"}); `count_sizes`: the (small) sizes the op count starts from.
    `baseline`: "reference" (the live reference: hidden tests) or a function returning
    what the student's function returns (a native PyTorch op: public tests too).
    `compare`: the names of the outputs compared with the baseline's (default: every
    output but the caches). The others (e.g. an optimizer state in the student's own
    format) are not compared and, like caches, stay in the worker during timed calls.
    `check`: for outputs no baseline can match (random ones): `check(outputs, args,
    kwargs)` returns None when the function's outputs (as it returns them, caches
    replaced by a placeholder) are right for the inputs of that call (the arguments as
    `make_inputs` drew them, on the CPU), else a message (or (message, message for a
    hidden test)). The outputs are then checked with it, not with the baseline's: on the
    correctness call and in every timed round; the baseline is still timed on the same
    inputs (and must pass the check itself, or the test is wrong).
    """
    settings = settings_of(t)
    options = t.test.options or {}
    dclass = device_class(t.device)
    dev_opts = options.get(dclass) or {}
    if "max_ratio" not in dev_opts:
        raise ValueError(f"{t.test.id}: options.{dclass}.max_ratio is not set")
    limit = float(dev_opts["max_ratio"])
    sizes = {**(sizes or {}), **(options.get("sizes") or {}), **(dev_opts.get("sizes") or {})}
    params = inspect.signature(make_inputs).parameters
    missing = [k for k, p in params.items() if k != "dtype" and p.default is p.empty
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and k not in sizes]
    if missing:
        raise ValueError(f"{t.test.id}: no size given for {', '.join(missing)} (expected "
                         f"options.sizes or options.{dclass}.sizes in the spec, or sizes= "
                         "in t.perf)")
    dtype = getattr(torch, str(dev_opts.get("dtype", "")), None) or DEFAULT_DTYPES[dclass]
    sizes.setdefault("dtype", dtype)
    rounds = settings.rounds or int(dev_opts.get("rounds", options.get("rounds", 15)))
    warmup = settings.warmup if settings.warmup is not None else int(
        dev_opts.get("warmup", options.get("warmup", 1)))
    sets = max(1, int(dev_opts.get("sets", options.get("sets", 1))))
    budget = float(dev_opts.get("budget_s", options.get("budget_s", 60.0)))
    names = t.assignment.outputs(fn)
    if check is not None and compare is not None:
        raise ValueError(f"{t.test.id}: give `compare` or `check`, not both")
    if compare is not None:
        compare = tuple(compare)
        unknown = sorted(set(compare) - set(names))
        if unknown or isinstance(t.assignment.functions[fn], str):
            raise ValueError(f"{t.test.id}: compare names {unknown or list(compare)}, not "
                             f"outputs of {fn} ({', '.join(names)})")
    if isinstance(grow, dict):
        grow_names = dict(grow)
    else:
        grow_names = {d: "" for d in grow}
    if baseline == "reference":
        reference = getattr(t.source, "reference", None)
        if reference is None or not hasattr(reference, fn):
            raise ValueError(f"{t.test.id}: the reference baseline needs the reference "
                             "solution (grade with it, or give a native baseline)")
        base_fn = getattr(reference, fn)
        base_name = baseline_name or "reference"
    else:
        base_fn = baseline
        base_name = baseline_name or getattr(baseline, "__name__", "baseline")
    m = Measurement(fn=fn, limit=limit, device=str(t.device), baseline=base_name,
                    sizes=dict(sizes))
    results_of(t).append(m)
    shown = ", ".join(f"{k}={v}" for k, v in sizes.items() if isinstance(v, int))
    case_label = label or f"{fn} {shown}".strip()
    with t.case(case_label):
        # 1. correctness on inputs of the timed size
        try:
            _correctness(t, fn, make_inputs, sizes, base_fn, baseline == "reference",
                         compare=compare, check=check, base_name=base_name)
        except Exception as e:
            failure = getattr(e, "failure", None)
            if failure is not None:
                m.reason = f"not timed: {failure.message(t.hidden)}"
                if failure.kind != "not_attempted":
                    failure.detail = f"not timed: {failure.detail}"
                    failure.hidden_detail = f"not timed: {failure.message(True)}"
            raise
        # 2. op count
        if settings.opcount and grow_names:
            start = {**sizes, **(count_sizes or {})}
            keep = _kept(t, fn, compare)
            for dim, what in grow_names.items():
                msg, counts = opcount.check_growth(
                    t, fn, lambda **s: _make(make_inputs, s), start, dim, what, keep=keep)
                m.op_counts[dim] = counts
                if msg:
                    m.loops.append(dim)
                    if settings.enforce:
                        m.reason = msg
                        t.fail("performance", msg, msg)
        # 3. timing
        _time_rounds(t, m, fn, make_inputs, sizes, base_fn, rounds=rounds, warmup=warmup,
                     sets=sets, budget=budget, settings=settings, only=compare,
                     check=check)
        verdict = (f"{fn}: {m.ratio:.2g}x {_whose(base_name)} time; the limit is {limit:g}x "
                   f"({base_name} {m.baseline_ms:.3g} ms, yours {m.student_ms:.3g} ms, "
                   f"median of {len(m.ratios)} rounds on {dclass})")
        if m.ratio > limit and settings.enforce:
            t.fail("performance", verdict, verdict)
        m.reason = ""
    return m


def _kept(t, fn: str, compare: tuple[str, ...] | None) -> tuple[int, ...]:
    """Outputs that stay in the worker: the caches, and those `compare` leaves out."""
    keep = t.assignment.keep_indices(fn)
    if compare is None:
        return keep
    names = t.assignment.outputs(fn)
    return tuple(sorted(set(keep) | {i for i, n in enumerate(names) if n not in compare}))


def _correctness(t, fn, make_inputs, sizes, base_fn, is_reference: bool, *,
                 compare=None, check=None, base_name: str = "baseline") -> None:
    args, kwargs = _make(make_inputs, sizes)
    if check is not None:
        # The check must hold for the baseline, or the test itself is wrong.
        out = base_fn(*to_device(args, t.device), **to_device(kwargs, t.device))
        out = _strip(out, t.assignment.keep_indices(fn))
        msg = _check_message(check(as_plain(_to_cpu(out)), args, kwargs))
        if msg is not None:
            raise ValueError(f"{t.test.id}: the baseline ({base_name}) fails the test's "
                             f"check: {msg[0]}")
        value, _ = t.call(fn, *args, **kwargs)
        _check_property(t, fn, value, args, kwargs, check, timed=False)
        return
    if is_reference:
        t.run(fn, *args, compare_outputs=compare, **kwargs)
        return
    # A native baseline: compare with it as if it were the reference.
    saved = t.source.reference
    t.source.reference = _types.SimpleNamespace(**{fn: base_fn})
    try:
        t.run(fn, *args, compare_outputs=compare, **kwargs)
    finally:
        t.source.reference = saved


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, (tuple, list)):
        return type(value)(_to_cpu(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    return value


def _check_message(result) -> tuple[str, str] | None:
    """A `check`'s verdict as (message, message for a hidden test), or None."""
    if result is None:
        return None
    if isinstance(result, tuple) and len(result) == 2:
        return str(result[0]), str(result[1])
    return str(result), ""


def _check_property(t, fn: str, value, args, kwargs, check: Callable, *, timed: bool) -> None:
    """Fail the case unless `value` (one call's outputs) has the structure of `fn`'s
    outputs and passes the test's `check`."""
    names = t.assignment.outputs(fn)
    if not isinstance(t.assignment.functions[fn], str) and (
            not isinstance(value, (tuple, list)) or len(value) != len(names)):
        t.fail("structure", f"{fn}: expected a tuple of {len(names)} values "
               f"({', '.join(names)}), got {compare.describe_value(value)}",
               f"{fn}: wrong number of return values")
    msg = _check_message(check(value, args, kwargs))
    if msg is None:
        return
    detail, hidden = msg
    hidden = hidden or "a required property does not hold"
    if timed:
        t.fail("property", f"{fn}: the output of a timed call is wrong ({detail}); outputs "
               "are checked on fresh inputs every round",
               f"{fn}: the output of a timed call is wrong ({hidden})")
    t.fail("property", f"{fn}: {detail}", f"{fn}: {hidden}")


def _time_rounds(t, m: Measurement, fn, make_inputs, sizes, base_fn, *, rounds, warmup,
                 sets, budget, settings: PerfSettings, only=None, check=None) -> None:
    session: WorkerSession = t.session
    device = session.device
    clock = Clock(device)
    keep = _kept(t, fn, only)
    timeout = t.test.timeout * sets + 5.0
    probe = WorkerSession(session.zygote, PROBE_MODULE, PROBE_SOURCE, device=device)
    probe.ensure()
    session.ensure()
    root = getattr(getattr(session.zygote, "proc", None), "pid", None)
    delay_student = RunDelay(host_pid(root, session.pid))
    delay_probe = RunDelay(host_pid(root, probe.pid))
    overheads: list[int] = []
    base_ns_all: list[float] = []
    stud_ns_all: list[float] = []
    gpu_notes: list[str] = []
    start = time.monotonic()
    try:
        with TIMING_LOCK, timing_conditions(device):
            for i in range(warmup + rounds):
                made = [_make(make_inputs, sizes) for _ in range(sets)]
                handles = []
                for args, kwargs in made:
                    r = session.stage(args, kwargs, timeout=timeout)
                    if r.error is not None:
                        t._call_failed(fn, r)
                    handles.append(r.extra.get("handle"))
                # the baseline, here
                base_outs, base_ns, base_gpu = [], 0, 0.0
                for args, kwargs in made:
                    out, ns, gpu = clock.call(base_fn, to_device(args, device),
                                              to_device(kwargs, device))
                    base_outs.append(_strip(out, keep))
                    base_ns += ns
                    base_gpu += gpu or 0.0
                if clock.cuda and base_gpu > base_ns / 1e6 * 1.05 + 0.05:
                    gpu_notes.append(f"baseline: events {base_gpu:.3f} ms > wall")
                # the probe: what a round trip with these outputs costs an honest worker
                overheads.append(_probe_round_trip(probe, base_outs, sets, timeout,
                                                   delay_probe))
                # the student
                d0 = delay_student.read()
                r = session.time(fn, handles, keep=keep, timeout=timeout,
                                 flush_mb=FLUSH_MB if clock.cuda else 0)
                d1 = delay_student.read()
                if r.error is not None:
                    t._call_failed(fn, r)
                got = as_plain(r.value)
                if check is None:
                    _check_round(t, fn, got, base_outs, sets, only)
                else:
                    if not isinstance(got, list) or len(got) != sets:
                        t.fail("protocol", f"{fn}: the timed call returned "
                               f"{compare.describe_value(got)}",
                               f"{fn}: returned an unreadable value")
                    for (args, kwargs), value in zip(made, got):
                        _check_property(t, fn, value, args, kwargs, check, timed=True)
                gpu_ms = r.extra.get("gpu_ms") or []
                if clock.cuda and isinstance(gpu_ms, list) and all(
                        isinstance(x, (int, float)) for x in gpu_ms) and \
                        sum(gpu_ms) > r.elapsed_ns / 1e6 * 1.05 + 0.05:
                    gpu_notes.append("student: the worker's CUDA events exceed the round "
                                     "trip (ignored: the round trip is what counts)")
                if i < warmup:
                    continue
                honest = [o for o in overheads if o is not None]
                overhead = int(statistics.median(honest)) if honest else 0
                busy = RunDelay.busy(r.elapsed_ns, d0, d1)
                overhead = min(overhead, int(busy * MAX_OVERHEAD_FRACTION))
                stud_ns = max(busy - overhead, 1) / sets
                base_ns_all.append(base_ns / sets)
                stud_ns_all.append(stud_ns)
                m.ratios.append(stud_ns * sets / max(base_ns, 1))
                if DEBUG:
                    print(f"round {i}: base {base_ns / 1e6:.2f} probe "
                          f"{(overheads[-1] or 0) / 1e6:.2f} student rt "
                          f"{r.elapsed_ns / 1e6:.2f} busy {busy / 1e6:.2f}")
                m.overhead_ms = overhead / 1e6
                done = len(m.ratios)
                if done >= 3 and settings.early_stop and not (
                        m.limit / EARLY_PASS < statistics.median(m.ratios)
                        < EARLY_FAIL * m.limit):
                    break
                if done >= 3 and time.monotonic() - start > budget:
                    break
    finally:
        probe.close()
    m.ratio = statistics.median(m.ratios)
    m.baseline_ms = statistics.median(base_ns_all) / 1e6
    m.student_ms = statistics.median(stud_ns_all) / 1e6
    m.gpu_check = "; ".join(sorted(set(gpu_notes)))


def _probe_round_trip(probe: WorkerSession, outputs: list, sets: int,
                      timeout: float, delay: RunDelay) -> int | None:
    """The probe's round trip for a timed request returning `outputs`, one set's per call
    (the first time, they are handed to it; afterwards it returns the same again: same
    size each round)."""
    if not getattr(probe, "_kept", False):
        r, _ = probe.call("keep", (list(outputs),), timeout=timeout, record_ops=False)
        if r.error is not None:
            return None
        probe._kept = True
    d0 = delay.read()
    r = probe.time("echo", [0] * sets, timeout=timeout,
                   flush_mb=FLUSH_MB if probe.device.startswith("cuda") else 0)
    if r.error is not None:
        return None
    return RunDelay.busy(r.elapsed_ns, d0, delay.read())


def _check_round(t, fn: str, got, expected: list, sets: int,
                 only: tuple[str, ...] | None = None) -> None:
    """The timed call's outputs, against the baseline's on the same inputs."""
    if not isinstance(got, list) or len(got) != sets:
        t.fail("protocol", f"{fn}: the timed call returned {compare.describe_value(got)}",
               f"{fn}: returned an unreadable value")
    names = t.assignment.outputs(fn)
    single = isinstance(t.assignment.functions[fn], str)

    def tol_for(dtype):
        base = t.tolerance(dtype)
        f = CHECK_TOLERANCE_FACTOR
        return Tolerance(rtol=base.rtol * f, atol=base.atol * f,
                         atol_scaled=base.atol_scaled * f)

    for g, e in zip(got, expected):
        pairs = [(names[0], g, e)] if single else None
        if pairs is None:
            if not isinstance(g, (tuple, list)) or len(g) != len(names):
                t.fail("structure", f"{fn}: the timed call returned "
                       f"{compare.describe_value(g)}", f"{fn}: wrong number of return values")
            pairs = list(zip(names, g, e))
        for name, gv, ev in pairs:
            if name == "cache" or (only is not None and name not in only):
                continue
            mm = compare.compare_value(name, gv, ev, tol_for, device=None)
            if mm is not None:
                msg = (f"{fn}: the output of a timed call is wrong ({mm.detail}); outputs "
                       "are checked on fresh inputs every round")
                t.fail(mm.kind, msg, f"{fn}: the output of a timed call is wrong "
                       f"({mm.hidden()})")


# ---------------------------------------------------------------------------- reporting


def summarize(t) -> tuple[dict, list[str]]:
    """TestResult.extra for a performance test, and one line per timed function.

    With several functions timed, the figures are the worst ratio's (the one that
    decides); "functions" lists them all.
    """
    ms = results_of(t)
    if not ms:
        return {}, []
    timed = [m for m in ms if m.timed]
    worst = max(timed, key=lambda m: m.ratio / m.limit) if timed else ms[0]
    extra = {"ratio": _r(worst.ratio), "limit": worst.limit,
             "baseline_ms": _r(worst.baseline_ms), "student_ms": _r(worst.student_ms),
             "functions": [m.as_extra() for m in ms]}
    lines = []
    for m in ms:
        if m.timed:
            lines.append(f"{m.fn}: {m.ratio:.2g}x {_whose(m.baseline)} time (limit {m.limit:g}x; "
                         f"{m.baseline} {m.baseline_ms:.3g} ms, yours {m.student_ms:.3g} ms)")
        elif m.reason:
            lines.append(f"{m.fn}: {m.reason}")
    return extra, lines
