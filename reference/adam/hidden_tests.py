"""Hidden tests for adam: optimizer trajectories against the live reference.

The state is the student's own format, opaque to the grader: each step's state comes back
from the worker (`t.call`) and is passed back unchanged on the next step, while the
reference keeps its own state. After every step the student's w is compared with the
reference's w (float64 for float32 inputs) on trajectories of 50 to 60 steps with a fresh
random gradient per step: weight decay on and off, 0-D to 3-D weights, hyper-parameters by
position and by keyword, float32 and float64, and gradients around 1e-9 where it matters
whether eps is added inside or outside the square root. Every call also checks that w, dw
and the state's tensors were not modified in place.

Tolerances: float rounding in w accumulates over the steps in absolute terms, relative to
the largest weights the trajectory has seen (weight decay drives some weights towards 0
while they still carry the error of their larger past), so each step's check uses the
spec's atol_scaled times the running max |w| of the reference trajectory as an absolute
tolerance, plus the spec's rtol.
"""

import torch

from grader.testing import Tolerance, describe_value, dtype_name

F32, F64 = torch.float32, torch.float64


# ------------------------------------------------------------------------------- helpers


def call_step(t, fn, w, dw, state, args, kwargs):
    """One student step: (w, state, types), with the return structure checked."""
    value, types = t.call(fn, w, dw, state, *args, **kwargs)
    return split_step(t, fn, value, types)


def split_step(t, fn, value, types):
    """(w, state, types) from a step's outputs, with the return structure checked."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        t.fail("structure", f"{fn}: expected a tuple (w, state), got {describe_value(value)}",
               f"{fn}: wrong number of return values")
    w_new, state_new = value
    if not isinstance(state_new, dict):
        t.fail("structure", f"{fn}: the state must be a dict, got {describe_value(state_new)}",
               f"{fn}: the state is not a dict")
    return w_new, state_new, types


def trajectory(t, fn, shape, dtype, steps, args=(), kwargs=None, grad_scale=1.0):
    """Run `steps` steps from the same start on both sides; compare w after each."""
    kwargs = kwargs or {}
    base = t.tolerance(dtype)
    w_0 = t.randn(*shape, dtype=dtype)
    # The reference's trajectory first (the same draws, in the same order), then the
    # student's steps in one request: each step's w and state go on to the next inside
    # the worker, exactly as if they had come back and been sent again.
    w_r, state_r, dws, expected = w_0, None, [], []
    for _ in range(steps):
        dws.append(t.randn(*shape, dtype=dtype, scale=grad_scale))
        w_r, state_r = t.reference(fn, w_r, dws[-1], state_r, *args, **kwargs)
        expected.append(w_r)
    calls = [((w_0 if k == 0 else t.previous(0), dw, None if k == 0 else t.previous(1), *args),
              kwargs) for k, dw in enumerate(dws)]
    # The running max |w| of the reference trajectory (w_0 included) after each step, in
    # one pass over the stacked steps rather than three ops per step.
    if w_0.numel():
        steps_w = torch.stack([w_0.to(expected[0].dtype), *expected]).reshape(steps + 1, -1)
        scales = steps_w.abs().amax(dim=1).cummax(dim=0).values[1:].tolist()
    else:
        scales = [0.0] * steps
    for k, ((value, types), w_r, scale) in enumerate(zip(t.chain(fn, calls), expected,
                                                         scales), 1):
        w_new, _, types = split_step(t, fn, value, types)
        tol = Tolerance(rtol=base.rtol, atol=base.atol + base.atol_scaled * scale)
        t.check(f"w after step {k}", w_new, w_r, dtype=dtype, tol=tol, types=types)


def describe(args, kwargs):
    parts = []
    if args:
        parts.append("positional " + ", ".join(repr(a) for a in args))
    if kwargs:
        parts.append(", ".join(f"{k}={v!r}" for k, v in kwargs.items()))
    return "; ".join(parts) or "defaults"


def run_cases(t, fn, cases, steps=50, grad_scale=1.0):
    for dtype, shape, args, kwargs in cases:
        label = f"{dtype_name(dtype)} w{tuple(shape)} {describe(args, kwargs)}, {steps} steps"
        with t.case(label):
            trajectory(t, fn, shape, dtype, steps, args, kwargs, grad_scale)


# ------------------------------------------------------------------------------- tests


def sgd_momentum(t):
    run_cases(t, "sgd_momentum_step", [
        (F64, (7,), (), dict(lr=0.05)),
        (F64, (5, 3), (0.02, 0.7, 0.1), {}),
        (F64, (2, 4, 3), (), dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
        (F64, (), (0.03,), {}),
        (F64, (1,), (0.1,), dict(momentum=0.0)),
        (F32, (6, 5), (), dict(lr=0.05, weight_decay=0.05)),
        (F32, (3, 1, 4), (0.01, 0.95), {}),
    ])


def rmsprop(t):
    run_cases(t, "rmsprop_step", [
        (F64, (7,), (), {}),
        (F64, (5, 3), (3e-3, 0.9, 1e-6, 0.05), {}),
        (F64, (2, 4, 3), (), dict(lr=1e-2, alpha=0.95, weight_decay=0.1)),
        (F64, (), (), dict(eps=1e-4)),
        (F32, (6, 5), (), {}),
        (F32, (3, 1, 4), (5e-3,), dict(weight_decay=0.02)),
    ])


def adagrad(t):
    run_cases(t, "adagrad_step", [
        (F64, (7,), (), {}),
        (F64, (5, 3), (0.1, 1e-8, 0.2), {}),
        (F64, (2, 4, 3), (), dict(lr=0.05, weight_decay=0.01)),
        (F64, (), (), dict(lr=0.3, eps=1e-6)),
        (F32, (6, 5), (), {}),
        (F32, (3, 1, 4), (), dict(lr=0.05, weight_decay=0.1)),
    ])


def adam(t):
    run_cases(t, "adam_step", [
        (F64, (7,), (), {}),
        (F64, (5, 3), (1e-2, (0.8, 0.99), 1e-6, 0.1), {}),
        (F64, (2, 4, 3), (), dict(lr=3e-2, betas=(0.5, 0.9), weight_decay=0.01)),
        (F64, (), (), dict(lr=0.1)),
        (F64, (4, 6), (1e-2,), dict(betas=(0.95, 0.9999), eps=1e-7)),
        (F32, (6, 5), (), dict(lr=1e-2)),
        (F32, (3, 1, 4), (3e-3, (0.9, 0.99), 1e-8, 0.05), {}),
    ], steps=60)


def adamw(t):
    run_cases(t, "adamw_step", [
        (F64, (7,), (), {}),
        (F64, (5, 3), (1e-2, (0.8, 0.99), 1e-6, 0.1), {}),
        (F64, (2, 4, 3), (), dict(lr=3e-2, betas=(0.5, 0.9), weight_decay=0.3)),
        (F64, (), (), dict(lr=0.1, weight_decay=0.0)),
        (F32, (6, 5), (), dict(lr=1e-2, weight_decay=0.1)),
        (F32, (3, 1, 4), (), {}),
    ], steps=60)


def optimizers_tiny_gradients(t):
    # |dw| ~ 1e-9: sqrt(v) ~ 1e-9 is below eps (1e-8) or close to it (Adagrad's 1e-10), so
    # the step is eta * g / (sqrt(v) + eps) ~ 0.1 eta with eps outside the square root but
    # ~1e-5 eta with eps inside: a difference far beyond any tolerance, in both dtypes.
    for fn, cases in [
        ("rmsprop_step", [(F64, (6, 4), (), {}), (F32, (5,), (), dict(lr=3e-2))]),
        ("adagrad_step", [(F64, (6, 4), (), {}), (F32, (5,), (), dict(lr=0.05))]),
        ("adam_step", [(F64, (6, 4), (), {}), (F32, (5,), (), dict(lr=1e-2))]),
        ("adamw_step", [(F64, (3, 2, 2), (), dict(lr=1e-2, weight_decay=0.1))]),
    ]:
        for dtype, shape, args, kwargs in cases:
            with t.case(f"{fn} {dtype_name(dtype)} w{shape} {describe(args, kwargs)}, "
                        "|dw| ~ 1e-9, 50 steps"):
                trajectory(t, fn, shape, dtype, 50, args, kwargs, grad_scale=1e-9)


def optimizers_contract(t):
    """Pure functions: the same (w, dw, state) always gives the same result, state=None
    starts afresh, and nothing the caller holds is modified (checked in every t.call)."""
    for fn, args, kwargs in [
        ("sgd_momentum_step", (0.05,), {}),
        ("rmsprop_step", (), {}),
        ("adagrad_step", (), dict(lr=0.05)),
        ("adam_step", (), dict(lr=1e-2, weight_decay=0.01)),
        ("adamw_step", (), {}),
    ]:
        with t.case(f"{fn}: float64 w(4, 3), the same inputs twice give the same step"):
            w = t.randn(4, 3)
            dws = [t.randn(4, 3) for _ in range(4)]
            w_first, _, _ = call_step(t, fn, w, dws[0], None, args, kwargs)
            w_s, state_s = w, None
            w_r, state_r = w, None
            for dw in dws[:3]:
                w_s, state_s, types = call_step(t, fn, w_s, dw, state_s, args, kwargs)
                w_r, state_r = t.reference(fn, w_r, dw, state_r, *args, **kwargs)
                t.check("w", w_s, w_r, types=types)
            # The same state twice: a step counter or buffer kept outside the returned
            # state (a global, a function attribute) makes the second call differ.
            w_a, _, _ = call_step(t, fn, w_s, dws[3], state_s, args, kwargs)
            w_b, _, _ = call_step(t, fn, w_s, dws[3], state_s, args, kwargs)
            t.require(torch.equal(w_a, w_b),
                      f"{fn} returned different weights for the same (w, dw, state) on two "
                      "calls: keep everything the optimizer remembers in the returned state",
                      f"{fn} is not a pure function of (w, dw, state)")
            w_r, _ = t.reference(fn, w_r, dws[3], state_r, *args, **kwargs)
            t.check("w", w_a, w_r, types=types)
            w_again, _, _ = call_step(t, fn, w, dws[0], None, args, kwargs)
            t.require(torch.equal(w_again, w_first),
                      f"{fn} with state=None gave a different first step after other calls: "
                      "state=None must start afresh",
                      f"{fn}: state=None does not start afresh")


# ------------------------------------------------------------------------------- performance


def perf_adam(t):
    # One step from state=None (the state's format is the student's, so none can be
    # staged) with L2 decay, on a parameter of L elements; `sets` in the spec times several
    # such calls per request. Only w is compared: the state stays in the worker, untimed
    # in transfer. The op count grows L: a loop over the elements dispatches ops per element
    # (a loop over Python floats read with tolist() does not, and is left to the timing).
    def inputs(L, dtype):
        return (t.randn(L, dtype=dtype), t.randn(L, dtype=dtype), None), \
            {"lr": 1e-2, "weight_decay": 1e-2}

    t.perf("adam_step", inputs, sizes={"L": 8192}, grow={"L": "the parameter's length"},
           count_sizes={"L": 8}, compare=("w",))
