"""Hidden tests for dropout: properties of the student's outputs, checked on the trusted side.

A random mask cannot be compared with the reference's, so every test checks what must hold
for any correct implementation, with the student's outputs only (`t.call`):

- rate: the fraction of dropped units is within 6 standard deviations of p. The sizes are
  chosen so that, for every tested p, that band excludes 1 - p (a swapped p always fails),
  while a correct solution fails one check with probability about 2e-9;
- independence: over 20 masks the number of dropped units varies as a binomial count does
  (a mask with a fixed number of zeros, or whole rows dropped together, fails);
- scaling: every kept unit equals x / (1 - p) (inputs have no zeros, so out != 0 marks
  the kept units), in float32 and float64, on 0-D to 4-D inputs;
- eval mode and p == 0 are the identity, p == 1 gives zeros and no NaN;
- the same generator seed gives the same mask, another seed another one, and
  generator=None draws from (and advances) PyTorch's default generator;
- the backward pass uses the forward pass's mask: dx = dout * (out != 0) / (1 - p), the
  same every time it is called with the same cache, and also where x holds exact zeros
  (there out is 0 for kept units too, so a mask rebuilt from out is wrong).
Every call also checks (in t.call) that no input was modified in place. Outputs may share
memory with the input (API.md lets eval mode and p == 0 return x itself; the backward of
eval mode may return dout).
"""

import math

import torch

from grader.testing import describe_value, dtype_name

DTYPES = (torch.float64, torch.float32)
SIGMAS = 6.0


# ------------------------------------------------------------------------------- helpers


def nonzero_input(t, shape, dtype):
    """Values with 0.5 <= |x| < 2: never zero, so out != 0 marks exactly the kept units."""
    magnitude = t.rand(*shape, low=0.5, high=2.0)
    sign = t.bernoulli(0.5, *shape)
    return torch.where(sign, magnitude, -magnitude).to(dtype)


def forward(t, x, p, *args, **kwargs):
    """The student's dropout_forward: (out, cache handle, types), out checked to be a
    tensor shaped like x (its dtype, device and values are checked by the caller)."""
    value, types = t.call("dropout_forward", x, p, *args, allow_alias=True, **kwargs)
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        t.fail("structure", "dropout_forward: expected a tuple (out, cache), got "
               f"{describe_value(value)}", "dropout_forward: wrong number of return values")
    out, cache = value
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(x.shape):
        t.check("out", out, x, dtype=x.dtype, types=types)  # reports the type or shape
    return out, cache, types


def backward(t, dout, cache):
    dx, types = t.call("dropout_backward", dout, cache, allow_alias=True)
    if not isinstance(dx, torch.Tensor) or tuple(dx.shape) != tuple(dout.shape):
        t.check("dx", dx, dout, dtype=dout.dtype, types=types)
    return dx, types


def expected_train(x, out, p):
    """What a correct training-mode output is, given which units the student kept."""
    kept = out != 0
    x64 = x.to(torch.float64)
    scaled = x64 / (1.0 - p) if p < 1 else torch.zeros_like(x64)
    return torch.where(kept, scaled, torch.zeros_like(x64))


def check_scaled(t, x, out, p, types):
    """out is float(x.dtype) on the right device, every kept unit is x / (1 - p)."""
    if p >= 1:
        t.check("out", out, torch.zeros_like(x, dtype=torch.float64), dtype=x.dtype,
                types=types)
    else:
        t.check("out", out, expected_train(x, out, p), dtype=x.dtype, types=types)


def check_rate(t, out, p, what="out"):
    n = out.numel()
    dropped = int((out == 0).sum())
    sd = math.sqrt(p * (1 - p) / n)
    frac = dropped / n
    t.require(abs(frac - p) <= SIGMAS * sd,
              f"{what}: {dropped} of {n} units dropped ({frac:.4f}); with p = {p} the "
              f"fraction should be within {SIGMAS * sd:.4f} of {p} (p is the probability "
              "of DROPPING a unit)",
              f"{what}: the fraction of dropped units does not match p")


# ------------------------------------------------------------------------------- tests


def dropout_rate(t):
    # n >= 4000, so for p in [0.1, 0.4] 6 sigma <= 0.047 < |1 - 2p| / 2 = 0.1 ... 0.4.
    cases = [(0.1, (64, 80)), (0.25, (5, 40, 21)), (0.4, (4000,)),
             (0.6, (3, 2, 25, 27)), (0.75, (100, 41)), (0.9, (57, 88))]
    for dtype in DTYPES:
        for p, shape in cases:
            with t.case(f"{dtype_name(dtype)} p={p} shape={shape}"):
                x = nonzero_input(t, shape, dtype)
                out, _, types = forward(t, x, p, True, t.generator(t.seed()))
                check_scaled(t, x, out, p, types)
                check_rate(t, out, p)


def dropout_independent(t):
    # K = 20 masks of n units: the dropped counts c_k are Binomial(n, p), so
    # S = sum (c_k - mean)^2 / (n p (1 - p)) follows about chi^2 with 19 degrees of freedom:
    # P(S < 1) = 8e-10 and P(S > 80) = 2e-9 for a correct solution. A mask with a fixed
    # number of zeros gives S = 0; masks shared along a dimension give S ~ 10 x chi^2.
    K = 20
    for dtype, p, shape in [(torch.float64, 0.3, (12, 9)), (torch.float32, 0.65, (4, 5, 6))]:
        with t.case(f"{dtype_name(dtype)} p={p} shape={shape}, {K} masks"):
            x = nonzero_input(t, shape, dtype)
            n = x.numel()
            counts = []
            for _ in range(K):
                out, _, types = forward(t, x, p, generator=t.generator(t.seed()))
                check_scaled(t, x, out, p, types)
                counts.append(int((out == 0).sum()))
            c = torch.tensor(counts, dtype=torch.float64)
            var = n * p * (1 - p)
            mean = float(c.mean())
            t.require(abs(mean - n * p) <= SIGMAS * math.sqrt(var / K),
                      f"over {K} masks of {n} units, {mean:.1f} units were dropped on "
                      f"average; expected about {n * p:.1f}",
                      "the average number of dropped units does not match p")
            s = float(((c - c.mean()) ** 2).sum()) / var
            t.require(1.0 <= s <= 80.0,
                      f"over {K} masks the number of dropped units ({counts}) does not vary "
                      "as it should when every unit is dropped independently with "
                      f"probability p (spread statistic {s:.2f}, expected 1 to 80)",
                      "units are not dropped independently of each other")


def dropout_scaling(t):
    cases = [((), 0.3), ((7,), 0.5), ((1, 13), 0.2), ((6, 11), 0.7), ((2, 3, 5), 0.45),
             ((3, 4, 6, 5), 0.85)]
    for dtype in DTYPES:
        for i, (shape, p) in enumerate(cases):
            by_keyword = i % 2 == 1
            how = "keywords" if by_keyword else "positional"
            with t.case(f"{dtype_name(dtype)} p={p} shape={shape} ({how})"):
                x = nonzero_input(t, shape, dtype)
                gen = t.generator(t.seed())
                if by_keyword:
                    out, _, types = forward(t, x, p=p, train=True, generator=gen)
                else:
                    out, _, types = forward(t, x, p, True, gen)
                check_scaled(t, x, out, p, types)


def dropout_eval(t):
    for dtype in DTYPES:
        for p, shape in [(0.3, (5, 8)), (0.9, (2, 3, 4)), (1.0, (9,))]:
            with t.case(f"{dtype_name(dtype)} p={p} shape={shape} train=False"):
                x = nonzero_input(t, shape, dtype)
                if p == 0.3:
                    out, cache, types = forward(t, x, p, False)
                else:
                    out, cache, types = forward(t, x, p, train=False,
                                                generator=t.generator(t.seed()))
                t.check("out", out, x, dtype=dtype, types=types)
                t.require(torch.equal(out, x), "out: in evaluation mode out must equal x "
                          "exactly (no mask, no scaling)", "out: not the identity in eval mode")
                dout = t.randn(*shape, dtype=dtype)
                dx, types = backward(t, dout, cache)
                t.check("dx", dx, dout, dtype=dtype, types=types)


def dropout_edge_p(t):
    for dtype in DTYPES:
        with t.case(f"{dtype_name(dtype)} p=0 (train): identity"):
            x = nonzero_input(t, (9, 14), dtype)
            out, cache, types = forward(t, x, 0.0, True, t.generator(t.seed()))
            t.check("out", out, x, dtype=dtype, types=types)
            dout = t.randn(9, 14, dtype=dtype)
            dx, types = backward(t, dout, cache)
            t.check("dx", dx, dout, dtype=dtype, types=types)
        with t.case(f"{dtype_name(dtype)} p=1 (train): zeros, no NaN"):
            x = nonzero_input(t, (8, 3, 5), dtype)
            out, cache, types = forward(t, x, 1.0, True, t.generator(t.seed()))
            t.check("out", out, torch.zeros_like(x), dtype=dtype, types=types)
            dout = t.randn(8, 3, 5, dtype=dtype)
            dx, types = backward(t, dout, cache)
            t.check("dx", dx, torch.zeros_like(dout), dtype=dtype, types=types)


def dropout_generator(t):
    shape = (40, 25)
    for dtype in DTYPES:
        with t.case(f"{dtype_name(dtype)} the same seed gives the same mask"):
            x = nonzero_input(t, shape, dtype)
            seed = t.seed()
            out1, _, types = forward(t, x, 0.5, True, t.generator(seed))
            check_scaled(t, x, out1, 0.5, types)
            out2, _, _ = forward(t, x, 0.5, generator=t.generator(seed))
            t.require(torch.equal(out1, out2),
                      "two calls with generators seeded alike gave different outputs: draw "
                      "the mask from `generator` only",
                      "the same generator seed gave different outputs")
        with t.case(f"{dtype_name(dtype)} different seeds give different masks"):
            x = nonzero_input(t, shape, dtype)
            out1, _, types = forward(t, x, 0.5, True, t.generator(t.seed()))
            check_scaled(t, x, out1, 0.5, types)
            out2, _, _ = forward(t, x, 0.5, True, t.generator(t.seed()))
            t.require(not torch.equal(out1 != 0, out2 != 0),
                      "two generators with different seeds gave the same mask",
                      "different generator seeds gave the same mask")
        with t.case(f"{dtype_name(dtype)} generator=None uses the default generator"):
            x = nonzero_input(t, shape, dtype)
            out1, _, types = forward(t, x, 0.5)
            check_scaled(t, x, out1, 0.5, types)
            check_rate(t, out1, 0.5)
            out2, _, _ = forward(t, x, 0.5, True, None)
            t.require(not torch.equal(out1 != 0, out2 != 0),
                      "two calls with generator=None gave the same mask: draw from PyTorch's "
                      "default generator (which then advances)",
                      "generator=None gave the same mask twice")


def dropout_backward(t):
    cases = [((6, 9), 0.3), ((50, 40), 0.6), ((2, 7, 3), 0.15), ((1, 5), 0.5),
             ((4, 3, 2, 6), 0.8)]
    for dtype in DTYPES:
        for shape, p in cases:
            with t.case(f"{dtype_name(dtype)} p={p} shape={shape}"):
                x = nonzero_input(t, shape, dtype)
                out, cache, types = forward(t, x, p, True, t.generator(t.seed()))
                check_scaled(t, x, out, p, types)
                dout = t.randn(*shape, dtype=dtype)
                dx, types = backward(t, dout, cache)
                kept = out != 0
                expected = torch.where(kept, dout.to(torch.float64) / (1.0 - p),
                                       torch.zeros((), dtype=torch.float64))
                t.check("dx", dx, expected, dtype=dtype, types=types)
                dx2, _ = backward(t, dout, cache)
                t.require(torch.equal(dx, dx2),
                          "dropout_backward gave a different dx the second time it was "
                          "called with the same cache: reuse the forward pass's mask",
                          "dx changed when called again with the same cache")
    for dtype in DTYPES:
        with t.case(f"{dtype_name(dtype)} p=0.4 shape=(7, 8), x with exact zeros"):
            # The mask must come from the forward pass, not from out != 0: where x is 0 a
            # kept unit's out is 0 as well. The same generator seed gives the same mask, so
            # a first call on an x without zeros shows which units are kept.
            p, shape = 0.4, (7, 8)
            x = nonzero_input(t, shape, dtype)
            seed = t.seed()
            out, _, types = forward(t, x, p, True, t.generator(seed))
            check_scaled(t, x, out, p, types)
            kept = out != 0
            zeros = t.bernoulli(0.4, *shape)
            zeros.view(-1)[int(kept.view(-1).to(torch.int64).argmax())] = True  # a kept 0
            xz = torch.where(zeros, torch.zeros_like(x), x)
            outz, cache, types = forward(t, xz, p, True, t.generator(seed))
            zero = torch.zeros((), dtype=torch.float64)
            t.check("out", outz, torch.where(kept, xz.to(torch.float64) / (1 - p), zero),
                    dtype=dtype, types=types)
            dout = t.randn(*shape, dtype=dtype)
            dx, types = backward(t, dout, cache)
            t.check("dx", dx, torch.where(kept, dout.to(torch.float64) / (1 - p), zero),
                    dtype=dtype, types=types)


# ------------------------------------------------------------------------------- performance

PERF_P = 0.5


def perf_check(t, p):
    """The property every timed output must have (`check` of t.perf): a random mask can
    match no baseline's, so each call's out is checked on its own inputs, as above: a
    tensor like x, kept units x / (1 - p), the fraction dropped within 6 sigma of p, and a
    mask other than the previous call's when the generator was seeded differently (a
    fixed pattern is not dropout). Outputs that are right once and then cached, or
    answers sent before the work is done, fail it."""
    last = {}

    def check(outputs, args, kwargs):
        out, x, gen = outputs[0], args[0], args[3]
        if not isinstance(out, torch.Tensor) or out.shape != x.shape or out.dtype != x.dtype:
            return (f"out: expected a {dtype_name(x.dtype)} tensor of shape {tuple(x.shape)}, "
                    f"got {describe_value(out)}", "out: wrong type, shape or dtype")
        kept = out != 0
        expected = torch.where(kept, x.to(torch.float64) / (1.0 - p), 0.0)
        err = (out.to(torch.float64) - expected).abs()
        if bool((err > t.tolerance(x.dtype).rtol * expected.abs()).any()):
            return ("kept units must equal x / (1 - p)", "out: kept units are not x / (1 - p)")
        n, dropped = out.numel(), int((~kept).sum())
        if abs(dropped / n - p) > SIGMAS * math.sqrt(p * (1 - p) / n):
            return (f"{dropped} of {n} units dropped with p = {p}",
                    "out: the fraction of dropped units does not match p")
        seed, mask = last.get("seed"), last.get("mask")
        last.update(seed=gen.seed, mask=kept)
        if seed is not None and seed != gen.seed and torch.equal(mask, kept):
            return ("the same mask as the previous call, whose generator was seeded "
                    "differently: draw the mask from `generator`",
                    "out: the same mask for differently seeded generators")
        return None

    return check


def perf_dropout(t):
    # Training mode on a batch of N x 256 units; `sets` in the spec times several calls per
    # request. Every output is checked with perf_check (never against the reference's mask),
    # while the reference is timed on the same inputs, drawing from its own generator.
    def inputs(N, D, dtype):
        return nonzero_input(t, (N, D), dtype), PERF_P, True, t.generator(t.seed())

    t.perf("dropout_forward", inputs, sizes={"N": 128, "D": 256}, grow={"N": "the batch"},
           count_sizes={"N": 8, "D": 16}, check=perf_check(t, PERF_P))
