"""The normalization reference and variants against PyTorch's batch_norm / layer_norm and
autograd (float64 oracles), and the forbidden-op patterns against the ops they really
dispatch and the library's own normalization ops."""

import importlib.util
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from grader.engine import assignments

ROOT = Path(__file__).resolve().parents[2]
REF_DIR = ROOT / "reference" / "normalization"
SPEC = assignments.load("normalization", ROOT)


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"_norm_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


IMPLEMENTATIONS = [REF_DIR / "normalization.py", *sorted((REF_DIR / "variants").glob("*.py"))]
BN_SHAPES = [(5, 3), (2, 4), (3, 2, 5, 4), (1, 3, 4, 5)]
LN_SHAPES = [(5, 7), (1, 6), (2, 3, 4), (9,)]


def _bn_oracle(x, gamma, beta, rm, rv, train, momentum, eps, dout):
    x, gamma, beta = (v.clone().requires_grad_() for v in (x, gamma, beta))
    rm, rv = rm.clone(), rv.clone()
    out = F.batch_norm(x, rm, rv, gamma, beta, train, momentum, eps)
    out.backward(dout)
    return out.detach(), rm, rv, x.grad, gamma.grad, beta.grad


@pytest.mark.parametrize("path", IMPLEMENTATIONS, ids=lambda p: p.stem)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_batchnorm_matches_torch(path, train):
    module = _load(path)
    gen = torch.Generator().manual_seed(0)
    for shape in BN_SHAPES:
        C = shape[1]
        x = torch.randn(shape, generator=gen, dtype=torch.float64) * 3 + 2
        gamma, beta, rm = (torch.randn(C, generator=gen, dtype=torch.float64) for _ in range(3))
        rv = torch.rand(C, generator=gen, dtype=torch.float64) + 0.5
        dout = torch.randn(shape, generator=gen, dtype=torch.float64)
        saved = [v.clone() for v in (x, gamma, beta, rm, rv)]
        out, cache, nm, nv = module.batchnorm_forward(x, gamma, beta, rm, rv, train, 0.3, 1e-3)
        e_out, e_rm, e_rv, e_dx, e_dg, e_db = _bn_oracle(x, gamma, beta, rm, rv, train, 0.3,
                                                         1e-3, dout)
        for got, exp in [(out, e_out), (nm, e_rm), (nv, e_rv)]:
            torch.testing.assert_close(got, exp, rtol=1e-10, atol=1e-10)
        for _ in range(2):  # the cache survives a backward
            dx, dg, db = module.batchnorm_backward(dout, cache)
            for got, exp in [(dx, e_dx), (dg, e_dg), (db, e_db)]:
                torch.testing.assert_close(got, exp, rtol=1e-10, atol=1e-10)
        assert all(torch.equal(a, b) for a, b in zip((x, gamma, beta, rm, rv), saved))


@pytest.mark.parametrize("path", IMPLEMENTATIONS, ids=lambda p: p.stem)
def test_layernorm_matches_torch(path):
    module = _load(path)
    gen = torch.Generator().manual_seed(1)
    for shape in LN_SHAPES:
        D = shape[-1]
        x = torch.randn(shape, generator=gen, dtype=torch.float64) * 2 - 1
        gamma, beta = (torch.randn(D, generator=gen, dtype=torch.float64) for _ in range(2))
        dout = torch.randn(shape, generator=gen, dtype=torch.float64)
        xr, gr, br = (v.clone().requires_grad_() for v in (x, gamma, beta))
        e_out = F.layer_norm(xr, (D,), gr, br, 1e-2)
        e_out.backward(dout)
        out, cache = module.layernorm_forward(x, gamma, beta, eps=1e-2)
        torch.testing.assert_close(out, e_out.detach(), rtol=1e-10, atol=1e-10)
        dx, dg, db = module.layernorm_backward(dout, cache)
        for got, exp in [(dx, xr.grad), (dg, gr.grad), (db, br.grad)]:
            torch.testing.assert_close(got, exp, rtol=1e-10, atol=1e-10)


def _forbidden(ops):
    return sorted(op for op in ops if any(fnmatchcase(op, p) for p in SPEC.forbidden_aten))


@pytest.mark.parametrize("path", IMPLEMENTATIONS, ids=lambda p: p.stem)
def test_allowed_ops_are_not_forbidden(path, Recorder):
    module = _load(path)
    x4 = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    c = torch.ones(3, dtype=torch.float64)
    x3 = torch.randn(2, 3, 6, dtype=torch.float64)
    d = torch.ones(6, dtype=torch.float64)
    rec = Recorder()
    with rec:
        for train in (True, False):
            out, cache, _, _ = module.batchnorm_forward(x4, c, c, c, c, train)
            module.batchnorm_backward(torch.ones_like(out), cache)
        out, cache = module.layernorm_forward(x3, d, d)
        module.layernorm_backward(torch.ones_like(out), cache)
    assert rec.ops and _forbidden(rec.ops) == [], (path.name, rec.ops)


def test_library_normalization_is_forbidden(Recorder):
    x = torch.randn(4, 3, 5, 5)
    c = torch.ones(3)
    for f in (lambda: F.batch_norm(x, c.clone(), c.clone(), c, c, True),
              lambda: F.batch_norm(x, c.clone(), c.clone(), c, c, False),
              lambda: F.layer_norm(x, (5,)), lambda: F.group_norm(x, 3),
              lambda: F.instance_norm(x), lambda: torch.nn.BatchNorm2d(3)(x),
              lambda: torch.nn.LayerNorm(5)(x), lambda: torch.native_layer_norm(x, (5,), None,
                                                                                None, 1e-5)):
        rec = Recorder()
        with rec, torch.no_grad():
            f()
        assert _forbidden(rec.ops), rec.ops
