"""The round loop of a performance test: time the baseline, the probe, the student.

Round i draws fresh inputs, times the baseline in this process (grader.engine.clock), then
an honest probe worker's round trip with the same inputs and outputs of the same size (the
fixed cost of a round trip), then the student's `time` request, which carries the inputs:
no student code sees them before the clock starts. The student's outputs come back in that
reply and are checked against the baseline's every round. grader.engine.perf explains why
this cannot be faked and is fair.
"""

from __future__ import annotations

import inspect
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from grader.boundary.session import WorkerSession, as_plain
from grader.boundary.wire import GeneratorSpec
from grader.engine import compare
from grader.engine.clock import (
    FLUSH_MB,
    TIMING_LOCK,
    Clock,
    RunDelay,
    Stopper,
    host_pid,
    timing_conditions,
)
from grader.engine.spec import Tolerance

PROBE_MODULE = "dlgrade_probe"
PROBE_SOURCE = '''
_kept = []
_next = [0]


def keep(outputs):
    _kept[:] = list(outputs)
    _next[0] = 0


def echo(*args, **kwargs):
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
"""The most of a student's round trip that the probe's overhead may cancel, where the
student's worker cannot be stopped while the probe is timed (no pidfds)."""
MAX_OVERHEAD_FRACTION_STOPPED = 0.9
"""The same, where it is stopped: nothing of the submission runs while its probe is
timed, so the probe's figure is an honest worker's own; the cap only keeps a noisy probe
from cancelling a whole round trip. (At 0.5, a correct linear layer whose inputs cost as
much to send as to multiply measured 4-7x against a limit of 6x.)"""
CHECK_TOLERANCE_FACTOR = 4.0
"""Per-round checks compare with the baseline at the same dtype: both sides round."""
DEBUG = False


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
    confirm: bool = True
    """Measure a figure over the limit once more, from fresh rounds, and keep the better
    of the two (grader.engine.perf.measure)."""


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
    measured: list = field(default_factory=list)
    """Both figures, when the first was over the limit and was measured again."""
    rounds_from: str = ""
    """The test whose timed rounds of the student this figure reused ("" when its own)."""

    @property
    def timed(self) -> bool:
        return self.ratio is not None

    def adopt(self, other: Measurement) -> None:
        """Take `other`'s timing (a second measurement of the same function)."""
        self.ratio, self.ratios = other.ratio, other.ratios
        self.baseline_ms, self.student_ms = other.baseline_ms, other.student_ms
        self.overhead_ms, self.gpu_check = other.overhead_ms, other.gpu_check
        self.rounds_from = other.rounds_from

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
        if self.measured:
            out["measured"] = self.measured
        if self.rounds_from:
            out["rounds_from"] = self.rounds_from
        return out


def _r(x):
    return None if x is None else round(float(x), 4)


@dataclass
class SharedRounds:
    """One performance test's timed rounds of the student, for another test of the same
    submission that times the same function on the same sizes against another baseline
    (a public test against a native op, a hidden one against the reference): that test
    times its own baseline on these rounds' inputs, checks these outputs against it, and
    divides these times by its baseline's, instead of timing the student again."""

    producer: str
    """The test that timed them (a test never reuses its own rounds)."""
    rounds: list
    """(inputs as drawn, the student's outputs, the student's time per set in ns)."""
    overhead_ms: float


def share_key(fn: str, device, sizes: dict, sets: int, keep: tuple[int, ...]) -> tuple:
    """What two measurements must have in common to share rounds."""
    return (fn, str(device), tuple(sorted((k, repr(v)) for k, v in sizes.items())), sets,
            tuple(keep))


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


def _kept(t, fn: str, compare: tuple[str, ...] | None) -> tuple[int, ...]:
    """Outputs that stay in the worker: the caches, and those `compare` leaves out."""
    keep = t.assignment.keep_indices(fn)
    if compare is None:
        return keep
    names = t.assignment.outputs(fn)
    return tuple(sorted(set(keep) | {i for i, n in enumerate(names) if n not in compare}))


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


def time_rounds(t, m: Measurement, fn, make_inputs, sizes, base_fn, *, rounds, warmup,
                 sets, budget, settings: PerfSettings, only=None, check=None,
                 shared: dict | None = None) -> None:
    """Time `fn` against `base_fn` (see the module doc). `shared`: the submission's
    SharedRounds by share_key; on the CPU a measurement takes another test's rounds from
    there when it can (see replay_rounds) and leaves its own for the next."""
    session: WorkerSession = t.session
    device = session.device
    clock = Clock(device)
    keep = _kept(t, fn, only)
    timeout = t.test.timeout * sets + 5.0
    key = share_key(fn, device, sizes, sets, keep)
    share = shared is not None and check is None and device == "cpu"
    if share:
        other = shared.get(key)
        if other is not None and other.producer != t.test.id:
            del shared[key]  # used once: a second measurement (over the limit) is fresh
            if replay_rounds(t, m, other, fn, base_fn, keep=keep, sets=sets, rounds=rounds,
                             settings=settings, only=only):
                return
    recorded: list = []
    # One probe per submission (it runs no student code), shared by its performance tests.
    probe = session.companion("probe", PROBE_MODULE, PROBE_SOURCE)
    probe.ensure()
    probe._kept = False  # this measure's outputs are not the probe's yet
    session.ensure()
    root = getattr(getattr(session.zygote, "proc", None), "pid", None)
    student_pid = host_pid(root, session.pid)
    delay_student = RunDelay(student_pid)
    delay_probe = RunDelay(host_pid(root, probe.pid))
    with Stopper(student_pid) as stopper:
        overheads: list[int] = []
        base_ns_all: list[float] = []
        stud_ns_all: list[float] = []
        gpu_notes: list[str] = []
        start = time.monotonic()
        for i in range(warmup + rounds):
            made = [_make(make_inputs, sizes) for _ in range(sets)]
            placed = [(to_device(args, device), to_device(kwargs, device))
                      for args, kwargs in made]
            # The lock covers the timed calls only (the checks and the next round's draws run
            # unlocked, beside another submission's timing). The inputs reach the worker inside
            # its timed request: no student code sees them before the clock starts.
            with TIMING_LOCK.turn(device), timing_conditions(device):
                with stopper.stopped() as stopped:  # no student code runs until its turn
                    # the baseline, here
                    base_outs, base_ns, base_gpu = _time_baseline(clock, base_fn, placed, keep)
                    # the probe: what a round trip with these outputs costs an honest worker
                    overheads.append(_probe_round_trip(probe, base_outs, made, timeout,
                                                       delay_probe))
                # the student
                d0 = delay_student.read()
                r = session.time(fn, made, keep=keep, timeout=timeout,
                                 flush_mb=FLUSH_MB if clock.cuda else 0)
                d1 = delay_student.read()
            if clock.cuda and base_gpu > base_ns / 1e6 * 1.05 + 0.05:
                gpu_notes.append(f"baseline: events {base_gpu:.3f} ms > wall")
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
            cap = MAX_OVERHEAD_FRACTION_STOPPED if stopped else MAX_OVERHEAD_FRACTION
            overhead = min(overhead, int(busy * cap))
            stud_ns = max(busy - overhead, 1) / sets
            base_ns_all.append(base_ns / sets)
            stud_ns_all.append(stud_ns)
            m.ratios.append(stud_ns * sets / max(base_ns, 1))
            if DEBUG:
                print(f"round {i}: base {base_ns / 1e6:.2f} probe "
                      f"{(overheads[-1] or 0) / 1e6:.2f} student rt "
                      f"{r.elapsed_ns / 1e6:.2f} busy {busy / 1e6:.2f}")
            m.overhead_ms = overhead / 1e6
            if share:
                recorded.append((made, got, stud_ns))
            done = len(m.ratios)
            if done >= 3 and settings.early_stop and not (
                    m.limit / EARLY_PASS < statistics.median(m.ratios)
                    < EARLY_FAIL * m.limit):
                break
            if done >= 3 and time.monotonic() - start > budget:
                break
    m.ratio = statistics.median(m.ratios)
    m.baseline_ms = statistics.median(base_ns_all) / 1e6
    m.student_ms = statistics.median(stud_ns_all) / 1e6
    m.gpu_check = "; ".join(sorted(set(gpu_notes)))
    if share:
        shared[key] = SharedRounds(t.test.id, recorded, m.overhead_ms)


def _time_baseline(clock: Clock, base_fn, placed: list, keep) -> tuple[list, int, float]:
    """The baseline on each set of a round: its outputs (as the time op returns the
    student's), its total time in ns, and its CUDA event time in ms."""
    outs, total_ns, total_gpu = [], 0, 0.0
    for args, kwargs in placed:
        out, ns, gpu = clock.call(base_fn, args, kwargs)
        outs.append(_strip(out, keep))
        total_ns += ns
        total_gpu += gpu or 0.0
    return outs, total_ns, total_gpu


def replay_rounds(t, m: Measurement, other: SharedRounds, fn, base_fn, *, keep, sets,
                  rounds, settings: PerfSettings, only=None) -> bool:
    """Time `base_fn` on the inputs of `other`'s rounds, in the same conditions as a round
    (the lock, one thread, the student's worker stopped), and take the student's times
    from those rounds. False, with `m` untouched, when the rounds cannot stand for this
    test's own: a baseline that fails on those inputs or whose outputs differ from the
    student's there (inputs this baseline was not written for), or a figure that this
    test's rounds would not have decided yet (it then times the student itself, as it
    always did)."""
    session: WorkerSession = t.session
    device = session.device
    clock = Clock(device)
    root = getattr(getattr(session.zygote, "proc", None), "pid", None)
    session.ensure()
    ratios, base_all, stud_all = [], [], []
    with Stopper(host_pid(root, session.pid)) as stopper:
        for made, got, stud_ns in other.rounds:
            placed = [(to_device(args, device), to_device(kwargs, device))
                      for args, kwargs in made]
            try:
                with TIMING_LOCK.turn(device), timing_conditions(device), stopper.stopped():
                    base_outs, base_ns, _ = _time_baseline(clock, base_fn, placed, keep)
            except Exception:  # noqa: BLE001 - inputs this baseline does not take: time anew
                return False
            if _round_mismatch(t, fn, got, base_outs, sets, only) is not None:
                return False
            ratios.append(stud_ns * sets / max(base_ns, 1))
            base_all.append(base_ns / sets)
            stud_all.append(stud_ns)
    if not ratios:
        return False
    median = statistics.median(ratios)
    decided = len(ratios) >= rounds or (settings.early_stop and len(ratios) >= 3 and not (
        m.limit / EARLY_PASS < median < EARLY_FAIL * m.limit))
    if not decided:
        return False
    m.ratios = ratios
    m.ratio = median
    m.baseline_ms = statistics.median(base_all) / 1e6
    m.student_ms = statistics.median(stud_all) / 1e6
    m.overhead_ms = other.overhead_ms
    m.rounds_from = other.producer
    return True


def _probe_round_trip(probe: WorkerSession, outputs: list, made: list,
                      timeout: float, delay: RunDelay) -> int | None:
    """The probe's round trip for a timed request carrying the inputs `made` and returning
    `outputs`, one set's per call (the first time, they are handed to it; afterwards it
    returns the same again: same size each round)."""
    if not getattr(probe, "_kept", False):
        r, _ = probe.call("keep", (list(outputs),), timeout=timeout, record_ops=False)
        if r.error is not None:
            return None
        probe._kept = True
    d0 = delay.read()
    r = probe.time("echo", made, timeout=timeout,
                   flush_mb=FLUSH_MB if probe.device.startswith("cuda") else 0)
    if r.error is not None:
        return None
    return RunDelay.busy(r.elapsed_ns, d0, delay.read())


def _check_round(t, fn: str, got, expected: list, sets: int,
                 only: tuple[str, ...] | None = None) -> None:
    """The timed call's outputs, against the baseline's on the same inputs."""
    failure = _round_mismatch(t, fn, got, expected, sets, only)
    if failure is not None:
        t.fail(*failure)


def _round_mismatch(t, fn: str, got, expected: list, sets: int,
                    only: tuple[str, ...] | None = None) -> tuple[str, str, str] | None:
    """Why the timed call's outputs do not match the baseline's, as (kind, message,
    message for a hidden test), or None when they do."""
    if not isinstance(got, list) or len(got) != sets:
        return ("protocol", f"{fn}: the timed call returned {compare.describe_value(got)}",
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
                return ("structure", f"{fn}: the timed call returned "
                        f"{compare.describe_value(g)}", f"{fn}: wrong number of return values")
            pairs = list(zip(names, g, e))
        for name, gv, ev in pairs:
            if name == "cache" or (only is not None and name not in only):
                continue
            mm = compare.compare_value(name, gv, ev, tol_for, device=None)
            if mm is not None:
                msg = (f"{fn}: the output of a timed call is wrong ({mm.detail}); outputs "
                       "are checked on fresh inputs every round")
                return (mm.kind, msg, f"{fn}: the output of a timed call is wrong "
                        f"({mm.hidden()})")
    return None


