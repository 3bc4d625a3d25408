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
3. Timing, in rounds. Round i draws fresh inputs, times the baseline in this (trusted)
   process, then an honest probe worker's round trip with the same inputs and outputs of
   the same size (the fixed cost of a round trip), then the student. The student's time
   is the round trip of one `time` request, which carries the inputs, on this process's
   clock, less the probe's; its outputs come back in that same reply and are checked
   against the baseline's every round. The figure is the median of the per-round ratios.

Why it cannot be faked: the worker's clock is never read (patching `time.perf_counter`
there changes nothing); the timed reply must carry correct outputs for inputs it has
not seen before (they arrive with the timed request itself: a separate, untimed staging
request let a submission compute its answers there), so skipping a CUDA synchronization
or answering early leaves nothing correct to send, and caching outputs across calls
returns the previous round's answer; the overhead subtracted comes from a separate worker
running no student code, timed while the student's worker is stopped (SIGSTOP through a
pidfd: a signal handler on a timer cannot compete with it), and at most 90% of a round
trip is subtracted (50% where the worker could not be stopped: an attacker who slowed
the probe gains at most 2x; a loop is 20x or more).

Fairness: both sides run with one thread, gc off, on the same device, with the same
inputs, one after the other (never concurrently: `TIMING_LOCK` serializes timing in a
process). On CUDA the L2 is flushed before every timed call on both sides (a 256 MB
write), each call is bracketed by synchronizations, and CUDA events cross-check the wall
clock. TF32 is off on both sides (DESIGN: correctness on CUDA runs without it).
"""

from __future__ import annotations

import inspect
import types as _types
from collections.abc import Callable

import torch

from grader.boundary.session import as_plain
from grader.engine import opcount
from grader.engine.rounds import (
    Measurement,
    PerfSettings,
    _check_message,
    _check_property,
    _kept,
    _make,
    _r,
    _strip,
    _to_cpu,
    time_rounds,
    to_device,
)

DEFAULT_DTYPES = {"cpu": torch.float64, "cuda": torch.float32}


def _whose(baseline: str) -> str:
    """"the reference's", or a native op's own name: "torch.optim.Adam's"."""
    return "the reference's" if baseline == "reference" else f"{baseline}'s"


def device_class(device: str) -> str:
    return "cuda" if str(device).startswith("cuda") else "cpu"


def settings_of(t) -> PerfSettings:
    return getattr(t, "perf_settings", None) or PerfSettings()


def results_of(t) -> list[Measurement]:
    if getattr(t, "perf_results", None) is None:
        t.perf_results = []
    return t.perf_results


# ---------------------------------------------------------------------------- the test API


def measure(t, fn: str, make_inputs: Callable, *, sizes: dict | None = None, grow=(),
            count_sizes: dict | None = None, baseline: str | Callable = "reference",
            baseline_name: str | None = None, label: str | None = None,
            compare: tuple[str, ...] | list[str] | None = None,
            check: Callable | None = None) -> Measurement:
    """Check, op-count and time the student's `fn` against a baseline (see module doc).

    make_inputs(**sizes, dtype=...) draws one call's inputs from `t` and returns the
    positional arguments (a tuple) or (args, kwargs). The timed problem sizes are the
    spec's `options.sizes`, overridden per device class by `options.<cpu|cuda>.sizes`
    (grader.engine.spec.PerfOptions); `sizes` here are defaults under those (a test may
    leave them all to the spec, so that one place says them).
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
    dclass = device_class(t.device)
    opts = t.test.perf.get(dclass)
    if opts is None:
        raise ValueError(f"{t.test.id}: options.{dclass} (max_ratio at least) is not set")
    limit = opts.max_ratio
    sizes = {**(sizes or {}), **opts.sizes}
    params = inspect.signature(make_inputs).parameters
    missing = [k for k, p in params.items() if k != "dtype" and p.default is p.empty
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and k not in sizes]
    if missing:
        raise ValueError(f"{t.test.id}: no size given for {', '.join(missing)} (expected "
                         f"options.sizes or options.{dclass}.sizes in the spec, or sizes= "
                         "in t.perf)")
    dtype = getattr(torch, opts.dtype) if opts.dtype else DEFAULT_DTYPES[dclass]
    sizes.setdefault("dtype", dtype)
    rounds = settings.rounds or opts.rounds
    warmup = settings.warmup if settings.warmup is not None else opts.warmup
    sets, budget = opts.sets, opts.budget_s
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
        timing = dict(rounds=rounds, warmup=warmup, sets=sets, budget=budget,
                      settings=settings, only=compare, check=check,
                      shared=getattr(t, "shared_rounds", None))
        time_rounds(t, m, fn, make_inputs, sizes, base_fn, **timing)
        if m.ratio > limit and settings.enforce and settings.confirm:
            # Load only ever slows a round down, never speeds one up: a figure over the
            # limit is measured again, from fresh rounds, and the better one stands. (A
            # stall of the whole machine over a few rounds once cost the reference itself
            # its point.) A solution that is slow is slow both times.
            again = Measurement(fn=fn, limit=limit, device=m.device, baseline=m.baseline,
                                sizes=m.sizes)
            time_rounds(t, again, fn, make_inputs, sizes, base_fn, **timing)
            m.measured = [_r(m.ratio), _r(again.ratio)]
            if again.ratio < m.ratio:
                m.adopt(again)
        verdict = (f"{fn}: {m.ratio:.2g}x {_whose(base_name)} time; the limit is {limit:g}x "
                   f"({base_name} {m.baseline_ms:.3g} ms, yours {m.student_ms:.3g} ms, "
                   f"median of {len(m.ratios)} rounds on {dclass}"
                   f"{'; the better of two measurements' if m.measured else ''})")
        if m.ratio > limit and settings.enforce:
            t.fail("performance", verdict, verdict)
        m.reason = ""
    return m


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
