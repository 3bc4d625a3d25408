"""The pooling reference against PyTorch's max_pool2d / avg_pool2d (float64 oracles), tie
routing, the forbidden-op patterns against the ops the reference and variants really
dispatch, and forbidden-op submissions scoring 0 on exactly the tests using them."""

import importlib.util
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from grader.boundary.session import Zygote
from grader.engine import assignments, grading

ROOT = Path(__file__).resolve().parents[2]
REF_DIR = ROOT / "reference" / "pooling"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"_pool_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load(REF_DIR / "pooling.py")
IMPLEMENTATIONS = [REF_DIR / "pooling.py", *sorted((REF_DIR / "variants").glob("*.py"))]

# (N, C, H, W, kernel_size, stride)
SHAPES = [
    (2, 3, 8, 6, 2, None),
    (3, 2, 8, 9, 3, 2),               # overlapping, a leftover row
    (1, 4, 9, 7, (3, 2), (1, 2)),     # overlapping rows
    (2, 1, 7, 10, [2, 4], 3),         # lists, leftover rows and columns
    (2, 3, 6, 9, 2, (1, 3)),          # stride larger than the kernel in w
    (2, 2, 5, 4, (5, 4), 1),          # window as large as the input
    (2, 3, 8, 5, 1, (2, 1)),          # 1x1 windows
]

POOLS = {"max": (F.max_pool2d, "maxpool2d"), "avg": (F.avg_pool2d, "avgpool2d")}


def _as_tuple(v):
    return tuple(v) if isinstance(v, list) else v


def _oracle(kind, x, k, s, dout):
    x = x.clone().requires_grad_()
    out = POOLS[kind][0](x, _as_tuple(k), _as_tuple(s))
    out.backward(dout)
    return out.detach(), x.grad


def _check(module, kind, x, k, s, gen):
    name = POOLS[kind][1]
    fw, bw = getattr(module, f"{name}_forward"), getattr(module, f"{name}_backward")
    out, cache = fw(x, k) if s is None else fw(x, kernel_size=k, stride=s)
    dout = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(x.dtype)
    e_out, e_dx = _oracle(kind, x, k, s, dout)
    torch.testing.assert_close(out, e_out, rtol=1e-12, atol=1e-12)
    dx = bw(dout, cache)
    torch.testing.assert_close(dx, e_dx, rtol=1e-12, atol=1e-12)
    assert torch.equal(bw(dout, cache), dx)  # the cache survives a backward


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_reference_matches_torch(kind, shape):
    gen = torch.Generator().manual_seed(0)
    N, C, H, W, k, s = shape
    x = torch.randn(N, C, H, W, generator=gen, dtype=torch.float64)
    _check(ref, kind, x, k, s, gen)


@pytest.mark.parametrize("path", IMPLEMENTATIONS, ids=lambda p: p.stem)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_ties_go_to_the_first_maximum(path, dtype):
    """Integer-valued inputs: most windows tie. PyTorch (CPU) also routes to the first
    maximum in row-major order, which the API prescribes; compared exactly."""
    module = _load(path)
    gen = torch.Generator().manual_seed(3)
    for k, s in [(2, None), ((3, 2), 1), ([2, 3], [2, 1])]:
        x = torch.randint(0, 2, (2, 3, 8, 7), generator=gen).to(dtype)
        out, cache = module.maxpool2d_forward(x, k, s)
        dout = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(dtype)
        e_out, e_dx = _oracle("max", x.double(), k, s, dout.double())
        assert torch.equal(out.double(), e_out)
        torch.testing.assert_close(module.maxpool2d_backward(dout, cache).double(), e_dx,
                                   rtol=1e-6, atol=1e-6)


def test_ties_first_maximum_by_hand():
    x = torch.tensor([[[[1.0, 3.0, 3.0],
                        [3.0, 0.0, 3.0]]]], dtype=torch.float64)
    out, cache = ref.maxpool2d_forward(x, (2, 2), 1)  # two windows, both tie
    dx = ref.maxpool2d_backward(torch.tensor([[[[10.0, 100.0]]]], dtype=torch.float64), cache)
    # window 1 covers columns 0-1: first 3 at (0, 1); window 2 columns 1-2: first 3 at (0, 1)
    expected = torch.tensor([[[[0.0, 110.0, 0.0], [0.0, 0.0, 0.0]]]], dtype=torch.float64)
    assert torch.equal(out, torch.tensor([[[[3.0, 3.0]]]], dtype=torch.float64))
    assert torch.equal(dx, expected)


def test_reference_float32_stays_float32_and_inputs_unchanged():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 9, 7, generator=gen)
    saved = x.clone()
    for name in ("maxpool2d", "avgpool2d"):
        out, cache = getattr(ref, f"{name}_forward")(x, [3, 2], stride=(2, 1))
        dout = torch.randn(out.shape, generator=gen)
        dsaved = dout.clone()
        dx = getattr(ref, f"{name}_backward")(dout, cache)
        assert out.dtype == dx.dtype == torch.float32
        assert torch.equal(x, saved) and torch.equal(dout, dsaved)


SPEC = assignments.load("pooling", ROOT)


def _forbidden(ops):
    return sorted(op for op in ops if any(fnmatchcase(op, p) for p in SPEC.forbidden_aten))


@pytest.mark.parametrize("path", IMPLEMENTATIONS, ids=lambda p: p.stem)
def test_allowed_ops_are_not_forbidden(path, Recorder):
    module = _load(path)
    gen = torch.Generator().manual_seed(2)
    for N, C, H, W, k, s in SHAPES[:4]:
        x = torch.randn(N, C, H, W, generator=gen, dtype=torch.float64)
        for name in ("maxpool2d", "avgpool2d"):
            rec = Recorder()
            with rec:
                out, cache = getattr(module, f"{name}_forward")(x, k, s)
                getattr(module, f"{name}_backward")(torch.ones_like(out), cache)
            assert rec.ops and _forbidden(rec.ops) == [], (path.name, rec.ops)


def test_library_pooling_is_forbidden(Recorder):
    x = torch.randn(1, 2, 6, 6)
    for f in (lambda: F.max_pool2d(x, 2), lambda: F.max_pool2d(x, 2, return_indices=True),
              lambda: F.avg_pool2d(x, 2), lambda: F.adaptive_avg_pool2d(x, 3),
              lambda: F.adaptive_max_pool2d(x, 3), lambda: F.lp_pool2d(x, 2, 2),
              lambda: torch.nn.MaxPool2d(2)(x), lambda: torch.max_pool2d(x, 2)):
        rec = Recorder()
        with rec, torch.no_grad():
            f()
        assert _forbidden(rec.ops), rec.ops


# ---------------------------------------------------------------- forbidden submissions

MAX_USES_MAX_POOL2D = '''

import torch.nn.functional as _F

_reference_max_forward = maxpool2d_forward


def maxpool2d_forward(x, kernel_size, stride=None):
    _, cache = _reference_max_forward(x, kernel_size, stride)
    return _F.max_pool2d(x, _pair(kernel_size), stride and _pair(stride)), cache
'''

# Hidden from the static scan (a computed name): caught at run time by the aten trace.
AVG_USES_AVG_POOL2D_AT_RUN_TIME = '''

import torch.nn.functional as _F

_reference_avg_forward = avgpool2d_forward


def avgpool2d_forward(x, kernel_size, stride=None):
    _, cache = _reference_avg_forward(x, kernel_size, stride)
    pool = getattr(_F, "avg_" + "pool2d")
    return pool(x, _pair(kernel_size), stride and _pair(stride)), cache
'''


@pytest.fixture(scope="module")
def zygote():
    with Zygote() as z:
        yield z


def _grade(zygote, source):
    suite = grading.load_suite(SPEC, REF_DIR)
    src = (REF_DIR / "pooling.py").read_text() + source
    result = grading.grade_submission(suite, "forbidden", src, zygote=zygote, seed=7)
    return {t.id: t for t in result.tests}


def _check_zero_exactly(tests, function, op_text):
    hit = 0
    for test in SPEC.tests:
        r = tests[test.id]
        if function in test.functions:
            hit += 1
            assert r.points == 0, (test.id, r.output)
            assert op_text in r.output, (test.id, r.output)
        else:
            assert r.points == r.max_points, (test.id, r.output)
    assert 0 < hit < len(SPEC.tests)


def test_maxpool_using_max_pool2d_scores_zero(zygote):
    tests = _grade(zygote, MAX_USES_MAX_POOL2D)
    _check_zero_exactly(tests, "maxpool2d_forward", "torch.nn.functional.max_pool2d")


def test_avgpool_using_avg_pool2d_at_run_time_scores_zero(zygote):
    tests = _grade(zygote, AVG_USES_AVG_POOL2D_AT_RUN_TIME)
    _check_zero_exactly(tests, "avgpool2d_forward", "aten.avg_pool2d")
