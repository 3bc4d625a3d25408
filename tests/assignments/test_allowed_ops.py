"""Ops a correct solution may use, in any assignment: none of them dispatches an op that
any assignment's forbidden list names, under either op recorder. The native recorder also
names the ops an op calls inside (torch.matmul's mm), so an allowed op that called a
forbidden one internally would cost a correct solution its points; this keeps the lists
and the recorder honest against the styles students write (by hand, einsum, strided
views, unfold, the random draws, the optimizers' fused arithmetic)."""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest
import torch
import torch.nn.functional as F

from grader.engine import assignments
from tests.conftest import ROOT

x = torch.randn(4, 6, dtype=torch.float64)
y = torch.randn(6, 5, dtype=torch.float64)
img = torch.randn(2, 3, 8, 8, dtype=torch.float64)
w4 = torch.randn(4, 3, 3, 3, dtype=torch.float64)
b3 = torch.randn(2, 4, 6, dtype=torch.float64)
idx = torch.tensor([1, 0, 3, 2])

ALLOWED = {
    "clamp": lambda: x.clamp(min=0),
    "clamp_min": lambda: x.clamp_min(0),
    "maximum": lambda: torch.maximum(x, torch.zeros_like(x)),
    "where": lambda: torch.where(x > 0, x, 0.0),
    "exp/log": lambda: (x.exp().log(), x.log1p(), x.expm1()),
    "tanh": lambda: torch.tanh(x),
    "max dim": lambda: x.max(dim=1),
    "amax": lambda: x.amax(1, keepdim=True),
    "logaddexp": lambda: torch.logaddexp(x, x),
    "erf": lambda: torch.erf(x),
    "gather": lambda: x.gather(1, idx[:, None]),
    "one_hot": lambda: F.one_hot(idx, 6),
    "scatter_add": lambda: torch.zeros(4, 6, dtype=x.dtype).scatter_add_(1, idx[:, None], x[:, :1]),
    "index": lambda: x[torch.arange(4), idx],
    "index_put": lambda: x.clone().index_put_((torch.arange(4), idx), torch.ones(4, dtype=x.dtype)),
    "matmul family": lambda: (
        x @ y,
        torch.mm(x, y),
        torch.addmm(torch.zeros(5, dtype=x.dtype), x, y),
        torch.einsum("nd,dm->nm", x, y),
        torch.tensordot(x, y, 1),
        torch.outer(x[0], y[0]),
    ),
    "bmm family": lambda: (
        torch.bmm(b3, b3.transpose(1, 2)),
        torch.baddbmm(torch.zeros(2, 4, 4, dtype=x.dtype), b3, b3.mT),
        b3 @ b3.mT,
    ),
    "heaviside/sign": lambda: (
        torch.heaviside(x, torch.tensor(0.0, dtype=x.dtype)),
        x.sign(),
        (x > 0).to(x.dtype),
    ),
    "softmax by hand": lambda: (lambda e: e / e.sum(1, keepdim=True))(
        (x - x.amax(1, keepdim=True)).exp()
    ),
    "logcumsumexp": lambda: torch.logcumsumexp(x, 1),
    "cumsum": lambda: x.cumsum(1),
    "masked_fill/tril": lambda: (
        x.masked_fill(x > 0, float("-inf")),
        torch.tril(x),
        torch.triu(torch.ones(4, 4)).bool(),
    ),
    "unfold/fold": lambda: (
        F.unfold(img, 3, padding=1),
        F.fold(F.unfold(img, 3), (8, 8), 3),
        img.unfold(2, 3, 1),
    ),
    "pad": lambda: (F.pad(img, (1, 1, 1, 1)), F.pad(img, (1, 1, 1, 1), value=-float("inf"))),
    "as_strided": lambda: img.as_strided((2, 3, 6, 6, 3, 3), (192, 64, 8, 1, 8, 1)),
    "flip/rot90": lambda: (w4.flip(2, 3), torch.rot90(w4, 2, (2, 3))),
    "index_add": lambda: torch.zeros(6, dtype=x.dtype).index_add_(0, idx, x[:, 0]),
    "argmax": lambda: (x.argmax(1), x.argmin(1)),
    "sort/topk": lambda: (x.sort(1), x.topk(2, 1)),
    "var/std/mean": lambda: (
        x.var(0, unbiased=False),
        x.std(0),
        x.mean(0),
        torch.var_mean(x, 0, unbiased=False),
        x.rsqrt().sqrt(),
    ),
    "norm": lambda: (x.norm(), torch.linalg.vector_norm(x), torch.linalg.norm(x), F.normalize(x)),
    "stack/cat/chunk": lambda: (
        torch.stack([x, x]),
        torch.cat([x, x]),
        x.chunk(2, 1),
        x.split(2, 1),
        x.unbind(0),
    ),
    "sigmoid by hand": lambda: 1 / (1 + torch.exp(-x)),
    "tanh by hand": lambda: (x.exp() - (-x).exp()) / (x.exp() + (-x).exp()),
    "random": lambda: (
        torch.rand(4, 6),
        torch.rand_like(x),
        torch.bernoulli(torch.full_like(x, 0.5)),
        torch.empty_like(x).bernoulli_(0.5),
        torch.empty_like(x).uniform_(),
        torch.randn_like(x),
        torch.randint(0, 5, (3,)),
        torch.multinomial(torch.ones(5), 3),
    ),
    "optim ops": lambda: (
        x.addcmul(x, x, value=0.1),
        x.addcdiv(x, x.abs() + 1, value=0.1),
        x.lerp(x, 0.1),
        x.pow(2),
        x.clone().mul_(2).add_(x, alpha=0.1),
        torch.sqrt(x.abs()),
    ),
    "conversions": lambda: (
        x.float(),
        x.double(),
        x.to(torch.float32),
        x.contiguous(),
        x.reshape(-1),
        x.view(-1),
        x.permute(1, 0),
        x.numpy(),
        torch.as_tensor(x.numpy()),
        x.tolist(),
        x.item() if x.numel() == 1 else x[0, 0].item(),
    ),
    "nan_to_num/isfinite": lambda: (x.nan_to_num(), torch.isfinite(x), torch.isnan(x)),
    "eye/arange/full": lambda: (
        torch.eye(3),
        torch.arange(5),
        torch.full((2, 2), 3.0),
        torch.linspace(0, 1, 5),
        torch.zeros(3),
        torch.ones(3),
    ),
    "sin/cos/pow10000": lambda: (
        torch.sin(x),
        torch.cos(x),
        torch.pow(10000.0, -torch.arange(0, 6, 2) / 6),
        torch.exp(torch.arange(0, 6, 2) * (-9.2 / 6)),
    ),
    "repeat/expand": lambda: (
        x.repeat(2, 1),
        x.expand(2, 4, 6),
        x.repeat_interleave(2, 0),
        torch.broadcast_to(x, (3, 4, 6)),
    ),
    "einsum attn": lambda: torch.einsum(
        "bhqd,bhkd->bhqk", torch.randn(2, 2, 3, 4), torch.randn(2, 2, 5, 4)
    ),
    "max_pool by max": lambda: img.unfold(2, 2, 2).unfold(3, 2, 2).reshape(2, 3, 4, 4, 4).max(-1),
    "avg by mean": lambda: img.reshape(2, 3, 4, 2, 4, 2).mean((3, 5)),
    "cdist": lambda: torch.cdist(x, x),
    "bincount": lambda: torch.bincount(idx),
    "unique": lambda: torch.unique(idx),
    "masked_select/nonzero": lambda: (x[x > 0], torch.nonzero(x > 0)),
    "tanh backward by hand": lambda: 1 - torch.tanh(x) ** 2,
    "clip": lambda: x.clip(-1, 1),
    "abs/relu by hand": lambda: (x + x.abs()) / 2,
    "x*(x>0)": lambda: x * (x > 0),
    "dot/mv/vdot": lambda: (x[0].dot(x[1]), torch.mv(x, x[0]), torch.inner(x, x)),
    "matrix_power/linalg": lambda: (torch.linalg.matrix_norm(x), torch.kron(x[:2, :2], x[:2, :2])),
}


FORBIDDEN = {n: assignments.load(n, ROOT).forbidden_aten for n in assignments.available(ROOT)}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_allowed_ops_match_no_forbidden_pattern(name, Recorder):  # noqa: N803
    rec = Recorder()
    with rec:
        ALLOWED[name]()
    assert rec.ops
    hits = {
        a: sorted(o for o in rec.ops if any(fnmatchcase(o, p) for p in patterns))
        for a, patterns in FORBIDDEN.items()
    }
    assert not any(hits.values()), hits
