"""The convolution reference against PyTorch's conv2d (float64 oracle), the forbidden-op
patterns against the ops the reference and variants really dispatch, and forbidden-op
submissions scoring 0 on exactly the tests of the functions using them."""

import importlib.util
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from grader.boundary.session import Zygote
from grader.engine import assignments, grading

ROOT = Path(__file__).resolve().parents[2]
REF_DIR = ROOT / "reference" / "convolution"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"_conv_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load(REF_DIR / "convolution.py")
IMPLEMENTATIONS = [REF_DIR / "convolution.py", *sorted((REF_DIR / "variants").glob("*.py"))]

# (N, C, H, W, F, KH, KW, stride, padding)
SHAPES = [
    (2, 3, 7, 6, 4, 3, 3, 1, 0),
    (3, 2, 9, 5, 5, 3, 2, 2, 1),
    (1, 4, 8, 11, 2, 2, 4, (2, 3), (1, 2)),
    (2, 1, 10, 7, 3, 1, 1, [3, 1], [0, 2]),
    (2, 3, 4, 3, 2, 6, 7, (1, 2), (1, 2)),     # kernel as large as the padded input
    (1, 2, 9, 10, 3, 2, 3, (4, 5), 0),         # stride larger than the kernel
    (2, 2, 3, 4, 3, 2, 3, 1, (3, 2)),          # padding larger than the kernel
]


def _oracle(x, w, b, stride, padding, dout):
    """F.conv2d forward and its autograd gradients, in float64."""
    x, w = x.clone().requires_grad_(), w.clone().requires_grad_()
    bb = None if b is None else b.clone().requires_grad_()
    def as_tuple(v):
        return tuple(v) if isinstance(v, list) else v

    out = F.conv2d(x, w, bb, as_tuple(stride), as_tuple(padding))
    out.backward(dout)
    return out.detach(), x.grad, w.grad, None if bb is None else bb.grad


def _inputs(shape, gen, bias=True, dtype=torch.float64):
    N, C, H, W, Fo, KH, KW, _, _ = shape
    x = torch.randn(N, C, H, W, generator=gen, dtype=torch.float64).to(dtype)
    w = torch.randn(Fo, C, KH, KW, generator=gen, dtype=torch.float64).to(dtype)
    b = torch.randn(Fo, generator=gen, dtype=torch.float64).to(dtype) if bias else None
    return x, w, b


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_reference_matches_conv2d(shape, bias):
    gen = torch.Generator().manual_seed(0)
    x, w, b = _inputs(shape, gen, bias)
    stride, padding = shape[7], shape[8]
    out, cache = ref.conv2d_forward(x, w, b, stride=stride, padding=padding)
    dout = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    e_out, e_dx, e_dw, e_db = _oracle(x, w, b, stride, padding, dout)
    torch.testing.assert_close(out, e_out, rtol=1e-12, atol=1e-12)
    dx, dw, db = ref.conv2d_backward(dout, cache)
    torch.testing.assert_close(dx, e_dx, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dw, e_dw, rtol=1e-12, atol=1e-12)
    if bias:
        torch.testing.assert_close(db, e_db, rtol=1e-12, atol=1e-12)
    else:
        assert db is None
    # A second backward on the same cache gives the same gradients.
    dx2, dw2, _ = ref.conv2d_backward(dout, cache)
    assert torch.equal(dx, dx2) and torch.equal(dw, dw2)


def test_reference_float32_stays_float32_and_inputs_unchanged():
    gen = torch.Generator().manual_seed(1)
    x, w, b = _inputs(SHAPES[2], gen, dtype=torch.float32)
    saved = [t.clone() for t in (x, w, b)]
    out, cache = ref.conv2d_forward(x, w, b, (2, 3), [1, 2])
    dout = torch.randn(out.shape, generator=gen).to(torch.float32)
    grads = ref.conv2d_backward(dout, cache)
    assert out.dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads)
    assert all(torch.equal(a, s) for a, s in zip((x, w, b), saved))


SPEC = assignments.load("convolution", ROOT)


def _forbidden(ops):
    return sorted(op for op in ops if any(fnmatchcase(op, p) for p in SPEC.forbidden_aten))


@pytest.mark.parametrize("path", IMPLEMENTATIONS, ids=lambda p: p.stem)
def test_allowed_ops_are_not_forbidden(path, Recorder):
    """No op that the reference or a variant dispatches matches a forbidden pattern."""
    module = _load(path)
    gen = torch.Generator().manual_seed(2)
    for shape in SHAPES[:4]:
        for bias in (True, False):
            x, w, b = _inputs(shape, gen, bias)
            rec = Recorder()
            with rec:
                out, cache = module.conv2d_forward(x, w, b, shape[7], shape[8])
                module.conv2d_backward(torch.ones_like(out), cache)
            assert rec.ops and _forbidden(rec.ops) == [], (path.name, rec.ops)


def test_library_convolutions_are_forbidden(Recorder):
    x, w = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3)
    for f in (lambda: F.conv2d(x, w), lambda: torch.conv2d(x, w, padding=1),
              lambda: F.conv_transpose2d(x, w.transpose(0, 1)),
              lambda: torch.nn.Conv2d(2, 3, 3)(x)):
        rec = Recorder()
        with rec, torch.no_grad():
            f()
        assert _forbidden(rec.ops), rec.ops


# ---------------------------------------------------------------- forbidden submissions

FORWARD_USES_CONV2D = '''

import torch.nn.functional as _F

_reference_forward = conv2d_forward


def conv2d_forward(x, w, b, stride=1, padding=0):
    _, cache = _reference_forward(x, w, b, stride, padding)
    return _F.conv2d(x, w, b, _pair(stride), _pair(padding)), cache
'''

# Hidden from the static scan (a computed name): caught at run time by the aten trace.
FORWARD_USES_CONV2D_AT_RUN_TIME = FORWARD_USES_CONV2D.replace(
    "_F.conv2d(", 'getattr(_F, "con" + "v2d")(')

BACKWARD_USES_CONVOLUTION_BACKWARD = '''

_reference_backward = conv2d_backward


def conv2d_backward(dout, cache):
    x_shape, w, has_bias, cols, stride, padding = cache
    x = dout.new_zeros(x_shape)
    dx, _, db = torch.ops.aten.convolution_backward(
        dout, x, w, [w.shape[0]] if has_bias else None, list(stride), list(padding),
        [1, 1], False, [0, 0], 1, [True, False, has_bias])
    _, dw, _ = _reference_backward(dout, cache)
    return dx, dw, db
'''


@pytest.fixture(scope="module")
def zygote():
    with Zygote() as z:
        yield z


def _grade(zygote, source):
    suite = grading.load_suite(SPEC, REF_DIR)
    src = (REF_DIR / "convolution.py").read_text() + source
    result = grading.grade_submission(suite, "forbidden", src, zygote=zygote, seed=7)
    return {t.id: t for t in result.tests}


def _check_zero_exactly(tests, function, op_text):
    for test in SPEC.tests:
        r = tests[test.id]
        if function in test.functions:
            assert r.points == 0, (test.id, r.output)
            assert op_text in r.output, (test.id, r.output)
        else:
            assert r.points == r.max_points, (test.id, r.output)


def test_forward_using_conv2d_scores_zero(zygote):
    tests = _grade(zygote, FORWARD_USES_CONV2D)
    _check_zero_exactly(tests, "conv2d_forward", "torch.nn.functional.conv2d")


def test_forward_using_conv2d_at_run_time_scores_zero(zygote):
    tests = _grade(zygote, FORWARD_USES_CONV2D_AT_RUN_TIME)
    _check_zero_exactly(tests, "conv2d_forward", "aten.convolution")


def test_backward_using_convolution_backward_scores_zero(zygote):
    tests = _grade(zygote, BACKWARD_USES_CONVOLUTION_BACKWARD)
    assert any("conv2d_backward" not in t.functions for t in SPEC.tests)
    _check_zero_exactly(tests, "conv2d_backward", "convolution_backward")
