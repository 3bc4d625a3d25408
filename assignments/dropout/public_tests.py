"""Public tests for dropout: the same property checks as the hidden ones, on fewer cases.

Run them with `dlgrade check dropout`. A random mask cannot be compared with a stored
one, so these tests check what every correct dropout does: about a fraction p of the units
is dropped (within 6 standard deviations), kept units are x / (1 - p), evaluation mode and
p = 0 are the identity, p = 1 gives zeros, the same generator seed gives the same mask,
and the backward pass reuses the forward pass's mask.

perf_dropout_public times your dropout_forward (training mode, 128 x 256 units) against
torch.nn.functional.dropout; every timed output is checked with the same properties.
"""

import math

import torch
import torch.nn.functional as F

from grader.testing import describe_value, dtype_name


def _input(t, shape, dtype):
    """Values with 0.5 <= |x| < 2: never zero, so out != 0 marks the kept units."""
    magnitude = t.rand(*shape, low=0.5, high=2.0)
    return torch.where(t.bernoulli(0.5, *shape), magnitude, -magnitude).to(dtype)


def _forward(t, x, p, *args, **kwargs):
    value, types = t.call("dropout_forward", x, p, *args, allow_alias=True, **kwargs)
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        t.fail("structure", "dropout_forward: expected a tuple (out, cache), got "
               f"{describe_value(value)}")
    out, cache = value
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(x.shape):
        t.check("out", out, x, dtype=x.dtype, types=types)
    return out, cache, types


def _check_scaled(t, x, out, p, types):
    x64 = x.to(torch.float64)
    expected = torch.where(out != 0, x64 / (1.0 - p), torch.zeros_like(x64))
    t.check("out", out, expected, dtype=x.dtype, types=types)


def dropout_train_public(t):
    for dtype, p, shape in [(torch.float64, 0.3, (50, 80)), (torch.float32, 0.8, (4, 30, 40))]:
        with t.case(f"{dtype_name(dtype)} p={p} shape={shape}"):
            x = _input(t, shape, dtype)
            out, cache, types = _forward(t, x, p, True, t.generator(t.seed()))
            _check_scaled(t, x, out, p, types)
            n, dropped = out.numel(), int((out == 0).sum())
            band = 6 * math.sqrt(p * (1 - p) / n)
            t.require(abs(dropped / n - p) <= band,
                      f"{dropped} of {n} units dropped ({dropped / n:.4f}); with p = {p} the "
                      f"fraction should be within {band:.4f} of {p} (p is the probability of "
                      "DROPPING a unit)")
            dout = t.randn(*shape, dtype=dtype)
            dx, types = t.call("dropout_backward", dout, cache, allow_alias=True)
            expected = torch.where(out != 0, dout.to(torch.float64) / (1 - p),
                                   torch.zeros((), dtype=torch.float64))
            t.check("dx", dx, expected, dtype=dtype, types=types)


def dropout_modes_public(t):
    for dtype in (torch.float64, torch.float32):
        with t.case(f"{dtype_name(dtype)} train=False is the identity"):
            x = _input(t, (6, 7), dtype)
            out, cache, types = _forward(t, x, 0.4, train=False)
            t.check("out", out, x, dtype=dtype, types=types)
            dout = t.randn(6, 7, dtype=dtype)
            dx, types = t.call("dropout_backward", dout, cache, allow_alias=True)
            t.check("dx", dx, dout, dtype=dtype, types=types)
        with t.case(f"{dtype_name(dtype)} p=0 keeps everything, p=1 drops everything"):
            x = _input(t, (5, 9), dtype)
            out, _, types = _forward(t, x, 0.0, True, t.generator(t.seed()))
            t.check("out", out, x, dtype=dtype, types=types)
            out, _, types = _forward(t, x, 1.0, True, t.generator(t.seed()))
            t.check("out", out, torch.zeros_like(x), dtype=dtype, types=types)
        with t.case(f"{dtype_name(dtype)} the same generator seed gives the same mask"):
            x = _input(t, (20, 30), dtype)
            seed = t.seed()
            out1, _, _ = _forward(t, x, 0.5, True, t.generator(seed))
            out2, _, _ = _forward(t, x, 0.5, True, generator=t.generator(seed))
            t.require(torch.equal(out1, out2), "two calls with generators seeded alike gave "
                      "different outputs: draw the mask from `generator` only")


def native_dropout(x, p, train=True, generator=None):
    """The baseline of perf_dropout_public: the library's dropout (which draws from the
    default generator; its mask is never compared, only timed)."""
    return F.dropout(x, p, train), None


def _perf_check(t, p):
    last = {}

    def check(outputs, args, kwargs):
        out, x, gen = outputs[0], args[0], args[3]
        if not isinstance(out, torch.Tensor) or out.shape != x.shape or out.dtype != x.dtype:
            return (f"out: expected a {dtype_name(x.dtype)} tensor of shape {tuple(x.shape)}, "
                    f"got {describe_value(out)}")
        kept = out != 0
        expected = torch.where(kept, x.to(torch.float64) / (1.0 - p), 0.0)
        if bool(((out.to(torch.float64) - expected).abs()
                 > t.tolerance(x.dtype).rtol * expected.abs()).any()):
            return "kept units must equal x / (1 - p)"
        n, dropped = out.numel(), int((~kept).sum())
        if abs(dropped / n - p) > 6 * math.sqrt(p * (1 - p) / n):
            return f"{dropped} of {n} units dropped with p = {p}"
        seed, mask = last.get("seed"), last.get("mask")
        last.update(seed=gen.seed, mask=kept)
        if seed is not None and seed != gen.seed and torch.equal(mask, kept):
            return ("the same mask as the previous call, whose generator was seeded "
                    "differently: draw the mask from `generator`")
        return None

    return check


def perf_dropout_public(t):
    def inputs(N, D, dtype):
        return _input(t, (N, D), dtype), 0.5, True, t.generator(t.seed())

    t.perf("dropout_forward", inputs, sizes={"N": 128, "D": 256}, grow={"N": "the batch"},
           count_sizes={"N": 8, "D": 16}, check=_perf_check(t, 0.5), baseline=native_dropout,
           baseline_name="F.dropout")
