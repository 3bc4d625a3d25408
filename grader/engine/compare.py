"""Comparing what a submission returned with what was expected.

Order of checks: type, shape, dtype, device, finiteness, values. The first that fails is
reported. Every function is pure and returns a `Mismatch` or None.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from grader.engine.spec import Tolerance

# What a hidden test may say about a failure: the kind only, never values or inputs.
HIDDEN_TEXT = {
    "type": "wrong type",
    "structure": "wrong number or kind of return values",
    "shape": "wrong shape",
    "dtype": "wrong dtype",
    "device": "wrong device",
    "nonfinite": "NaN or inf where finite values were expected",
    "values": "values differ",
}


@dataclass(frozen=True)
class Mismatch:
    """Why an output does not match."""

    kind: str
    """One of HIDDEN_TEXT's keys."""
    name: str
    """The output's name, e.g. "dx" or "grads['W1']"."""
    detail: str
    """The full message, for public tests."""

    def hidden(self) -> str:
        return f"{self.name}: {HIDDEN_TEXT.get(self.kind, 'incorrect')}"


def fmt(x) -> str:
    return x if isinstance(x, str) else f"{x:.6g}"


def fmt_index(idx: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(i) for i in idx) + ("," if len(idx) == 1 else "") + ")"


def shape_str(shape) -> str:
    return fmt_index(tuple(shape))


def _unravel(flat_index: int, shape) -> tuple[int, ...]:
    idx = []
    for size in reversed(tuple(shape)):
        idx.append(flat_index % size)
        flat_index //= size
    return tuple(reversed(idx))


def describe_value(v) -> str:
    if isinstance(v, torch.Tensor):
        return f"a tensor of shape {shape_str(v.shape)}"
    if v is None:
        return "None"
    from grader.boundary.wire import Handle
    if isinstance(v, Handle):
        return f"a {v.type or 'non-tensor object'}"
    if isinstance(v, (tuple, list)):
        return f"a {type(v).__name__} of {len(v)}"
    return f"a {type(v).__name__}"


@functools.lru_cache(maxsize=256)
def same_device(want: str, got: str) -> bool:
    """"cuda" matches "cuda:0": an unindexed device stands for any of its kind."""
    try:
        w, g = torch.device(want), torch.device(got)
    except (RuntimeError, TypeError):
        return want == got
    return w.type == g.type and (w.index is None or g.index is None or w.index == g.index)


def compare_tensor(name: str, got, expected: torch.Tensor, tol: Tolerance, *,
                   dtype: torch.dtype | None = None, got_type: str = "torch.Tensor",
                   device: str | None = None, got_device: str | None = None,
                   natural: float = 0.0) -> Mismatch | None:
    """Compare one tensor. `dtype` is the dtype the student must return (default: expected's).
    `natural` is the output's natural size (the spec's `scales`): `tol.atol_scaled` counts
    in units of the larger of it and the tensor's own largest |expected|, so a tensor whose
    values all underflow far below their natural size still gets the slack rounding at
    that size needs."""
    dtype = dtype or expected.dtype
    if not isinstance(got, torch.Tensor):
        return Mismatch("type", name, f"{name}: expected a torch.Tensor, got {describe_value(got)}")
    if got_type not in ("torch.Tensor", "Tensor", "torch.nn.parameter.Parameter"):
        return Mismatch("type", name, f"{name}: expected a plain torch.Tensor, got a {got_type}")
    if tuple(got.shape) != tuple(expected.shape):
        return Mismatch("shape", name, f"{name}: expected shape {shape_str(expected.shape)}, "
                                       f"got {shape_str(got.shape)}")
    if got.dtype != dtype:
        return Mismatch("dtype", name, f"{name}: expected dtype {str(dtype).replace('torch.', '')}"
                                       f", got {str(got.dtype).replace('torch.', '')}")
    if device is not None and got_device is not None and not same_device(device, got_device):
        return Mismatch("device", name, f"{name}: expected a tensor on {device}, "
                                        f"got one on {got_device}")
    if got.numel() == 0:
        return None
    if not (dtype.is_floating_point or dtype.is_complex):
        bad = got != expected.to(got.dtype)
        if bad.any():
            return _report(name, "values", got, expected, bad, bad.to(torch.float64), "exact")
        return None
    g = got.to(torch.float64)
    e = expected.to(torch.float64)
    # Pass/fail first, in one fused pass: most outputs pass, and the full diagnosis below
    # costs about twice as many ops. The fast path passes exactly what the full check
    # passes: a finite scale means every expected value is finite (max propagates NaN),
    # and `diff <= bound` is False wherever got is NaN or inf.
    # With rtol = 0 the bound is one number: the largest difference against it (NaN
    # propagates through max, and NaN <= bound is False).
    e_abs = e.abs()
    fast_scale = float(e_abs.max())
    if math.isfinite(fast_scale):
        diff = (g - e).abs_()
        if tol.rtol:
            passed = bool((diff <= tol.bound(e_abs, fast_scale)).all())
        else:
            passed = float(diff.max()) <= tol.bound(0.0, fast_scale)
        if passed:
            return None
    g_fin, e_fin = torch.isfinite(g), torch.isfinite(e)
    # Non-finite expected values (rare) must be matched exactly: same inf, or NaN for NaN.
    same_special = (g == e) | (torch.isnan(g) & torch.isnan(e))
    bad_finite = (~g_fin & e_fin) | (~e_fin & ~same_special)
    if bad_finite.any():
        return _report(name, "nonfinite", got, expected, bad_finite,
                       bad_finite.to(torch.float64), tol.describe())
    both = g_fin & e_fin
    scale = max(float(e[e_fin].abs().max()) if e_fin.any() else 0.0, natural)
    diff = torch.where(both, (g - e).abs(), torch.zeros_like(g))
    bound = tol.bound(e.abs(), scale)
    bad = both & (diff > bound)
    if bad.any():
        return _report(name, "values", got, expected, bad, diff - bound, tol.describe())
    return None


def _report(name, kind, got, expected, bad, badness, tol_text) -> Mismatch:
    n_bad, n = int(bad.sum()), bad.numel()
    flat = torch.where(bad.reshape(-1), badness.reshape(-1),
                       torch.full((n,), -float("inf"), dtype=torch.float64))
    i = int(torch.argmax(flat))
    idx = _unravel(i, got.shape)
    g = got.reshape(-1)[i].item()
    e = expected.reshape(-1)[i].item()
    if isinstance(g, float) and isinstance(e, float) and fmt(g) == fmt(e):
        g, e = f"{g!r}", f"{e!r}"  # values that differ beyond 6 digits: show all of them
    where = f" at {fmt_index(idx)}" if got.dim() else ""
    what = ("values differ" if kind == "values"
            else "values are NaN or inf where finite values were expected")
    if n == 1:
        detail = f"{name}: got {fmt(g)}, expected {fmt(e)} (tolerance {tol_text})"
    else:
        detail = (f"{name}: {n_bad} of {n} {what}; worst{where}: got {fmt(g)}, "
                  f"expected {fmt(e)} (tolerance {tol_text})")
    return Mismatch(kind, name, detail)


def compare_value(name: str, got, expected, tol_for, *, float_dtype=None, types=None,
                  device=None, natural: float = 0.0) -> Mismatch | None:
    """Compare nested outputs: tensors, None, numbers, lists/tuples and dicts of those.

    `tol_for(dtype)` gives the Tolerance for a float dtype; `float_dtype` overrides the
    dtype floating outputs must have (float32 when the reference ran upcast to float64);
    `types` maps id(tensor) -> (python type, device) as the worker reported them;
    `natural` is the natural size of every tensor in the value (see compare_tensor).
    """
    types = types or {}
    if isinstance(expected, torch.Tensor):
        want = float_dtype if (float_dtype and expected.dtype.is_floating_point) else None
        got_type, got_device = types.get(id(got), ("torch.Tensor", None))
        return compare_tensor(name, got, expected, tol_for(want or expected.dtype), dtype=want,
                              got_type=got_type, device=device, got_device=got_device,
                              natural=natural)
    if expected is None:
        if got is not None:
            return Mismatch("type", name, f"{name}: expected None, got {describe_value(got)}")
        return None
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return Mismatch("structure", name, f"{name}: expected a list of {len(expected)}, "
                                               f"got {describe_value(got)}")
        for i, (g, e) in enumerate(zip(got, expected)):
            m = compare_value(f"{name}[{i}]", g, e, tol_for, float_dtype=float_dtype,
                              types=types, device=device, natural=natural)
            if m:
                return m
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            keys = ", ".join(sorted(expected))
            have = (", ".join(sorted(map(str, got))) if isinstance(got, dict)
                    else describe_value(got))
            return Mismatch("structure", name, f"{name}: expected the keys {keys}, got {have}")
        for k in expected:
            m = compare_value(f"{name}[{k!r}]", got[k], expected[k], tol_for,
                              float_dtype=float_dtype, types=types, device=device,
                              natural=natural)
            if m:
                return m
        return None
    if isinstance(expected, (bool, int, float)):
        if isinstance(got, torch.Tensor) or not isinstance(got, (bool, int, float)):
            return Mismatch("type", name, f"{name}: expected a number, got {describe_value(got)}")
        t = torch.tensor([float(got)], dtype=torch.float64)
        return compare_tensor(name, t, torch.tensor([float(expected)], dtype=torch.float64),
                              tol_for(torch.float64), natural=natural)
    raise TypeError(f"cannot compare an expected value of type {type(expected).__name__}")
