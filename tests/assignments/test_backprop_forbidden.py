"""backprop's forbidden list, held to API.md: the library's activations and losses are
forbidden in every form (and so is any of them that computes a graded function for some
argument), while the rest of torch.nn.functional is tensor algebra and stays allowed. The
spec once forbade all of torch.nn.functional: an independent correct solution that built
its labels with F.one_hot scored 10/21."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.engine import forbidden, testing
from tests.conftest import ROOT, grade, suite

NAME = "backprop"
VARIANT = ROOT / "reference" / NAME / "variants" / "correct_nn_functional_algebra.py"
x = torch.randn(4, 6, dtype=torch.float64)
t = torch.randn(4, 6, dtype=torch.float64)
y = torch.tensor([1, 0, 5, 2])

# Each computes a graded function (or its heart) for the right argument.
SHORTCUTS = {
    "F.leaky_relu(x, 0) is relu": ("F.leaky_relu(x, 0.0)", lambda: F.leaky_relu(x, 0.0)),
    "F.elu(x, 0) is relu": ("F.elu(x, 0.0)", lambda: F.elu(x, 0.0)),
    "F.prelu with weight 0 is relu": (
        "F.prelu(x, torch.zeros(1, dtype=x.dtype))",
        lambda: F.prelu(x, torch.zeros(1, dtype=x.dtype))),
    "F.relu6 clamps like relu": ("F.relu6(x)", lambda: F.relu6(x)),
    "F.glu of [1, x] is sigmoid": (
        "F.glu(torch.cat([torch.ones_like(x), x], 1))",
        lambda: F.glu(torch.cat([torch.ones_like(x), x], 1))),
    "exp(F.logsigmoid) is sigmoid": ("F.logsigmoid(x).exp()", lambda: F.logsigmoid(x).exp()),
    "F.softmin(-x) is softmax": ("F.softmin(-x, 1)", lambda: F.softmin(-x, 1)),
    "F.huber_loss with a huge delta is mse": (
        "F.huber_loss(x, t, delta=1e9)", lambda: F.huber_loss(x, t, delta=1e9)),
    "F.smooth_l1_loss with a huge beta is mse, scaled": (
        "F.smooth_l1_loss(x, t, beta=1e9)", lambda: F.smooth_l1_loss(x, t, beta=1e9)),
    "F.cross_entropy": ("F.cross_entropy(x, y)", lambda: F.cross_entropy(x, y)),
    "F.nll_loss": ("F.nll_loss(x, y)", lambda: F.nll_loss(x, y)),
    "F.mse_loss": ("F.mse_loss(x, t)", lambda: F.mse_loss(x, t)),
    "F.binary_cross_entropy_with_logits": (
        "F.binary_cross_entropy_with_logits(x, t.sigmoid())",
        lambda: F.binary_cross_entropy_with_logits(x, t.sigmoid())),
    "torch.sigmoid": ("torch.sigmoid(x)", lambda: torch.sigmoid(x)),
    "torch.nn.ReLU module": ("torch.nn.ReLU()(x)", lambda: torch.nn.ReLU()(x)),
    "torch.nn.HuberLoss module": ("torch.nn.HuberLoss(delta=1e9)(x, t)",
                                  lambda: torch.nn.HuberLoss(delta=1e9)(x, t)),
}

# torch.nn.functional's tensor algebra: a correct solution may use any of it.
ALGEBRA = {
    "F.one_hot": ("F.one_hot(y, 6)", lambda: F.one_hot(y, 6)),
    "F.pad": ("F.pad(x, (0, 1), value=1.0)", lambda: F.pad(x, (0, 1), value=1.0)),
    "F.linear": ("F.linear(x, t)", lambda: F.linear(x, t)),
    "F.normalize": ("F.normalize(x)", lambda: F.normalize(x)),
    "torch.tanh": ("torch.tanh(x)", lambda: torch.tanh(x)),
}


def _scan(expr: str) -> dict:
    a = suite(NAME).assignment
    source = ("import torch\nimport torch.nn.functional as F\n\n"
              f"def relu_forward(x, t, y):\n    return {expr}\n")
    return forbidden.scan(source, a.forbidden_python, a.forbidden_aten)


def _trace(call, Recorder) -> list[str]:  # noqa: N803 - a class
    rec = Recorder()
    with rec:
        call()
    return testing.forbidden_matches(rec.ops, suite(NAME).assignment.forbidden_aten)


@pytest.mark.parametrize("name", sorted(SHORTCUTS))
def test_a_library_shortcut_is_caught_by_the_scan_and_by_the_trace(name, Recorder):
    expr, call = SHORTCUTS[name]
    assert _scan(expr).get("relu_forward"), f"{expr}: the static scan let it through"
    # The trace catches it even where a computed name hides it from the scan.
    assert _trace(call, Recorder), f"{expr}: the aten trace let it through"


@pytest.mark.parametrize("name", sorted(ALGEBRA))
def test_tensor_algebra_from_torch_nn_functional_is_allowed(name, Recorder):
    expr, call = ALGEBRA[name]
    assert _scan(expr) == {}
    assert _trace(call, Recorder) == []


def test_a_solution_built_on_one_hot_and_linear_scores_full_marks(zygote):
    source = VARIANT.read_text()
    assert "F.one_hot" in source and "F.linear" in source and "F.pad" in source
    r = grade(zygote, NAME, source, submission_id="nn-functional-algebra")
    assert r.score == r.max_score, [(t.id, t.output) for t in r.tests if t.points < t.max_points]


def test_relu_by_leaky_relu_scores_zero_on_exactly_the_relu_tests(zygote):
    """The scan names it; the tests that never call relu_forward keep their points."""
    source = VARIANT.read_text()
    old = "    out = x * gate\n"
    assert source.count(old) == 1
    source = source.replace(old, "    out = F.leaky_relu(x, 0.0)\n")
    a = suite(NAME).assignment
    r = grade(zygote, NAME, source, submission_id="leaky")
    for res in r.tests:
        uses_relu = {"relu_forward", "mlp_loss"} & set(a.test(res.id).functions)
        if uses_relu:
            assert res.points == 0 and "leaky_relu" in res.output, (res.id, res.output)
        else:
            assert res.points == res.max_points, (res.id, res.output)


def test_a_students_own_names_near_the_new_patterns_stay_free():
    """The scan judges an attribute of an object it cannot resolve (a parameter) by its
    name, as a tensor method would be: the patterns name the ops exactly where a prefix
    would catch ordinary words."""
    a = suite(NAME).assignment
    source = ("import torch\n\n"
              "def relu_forward(x, layer):\n"
              "    s = layer.elu_scale * layer.glue(x) * layer.prelude * layer.mishap\n"
              "    return x.clamp(min=0) * s, None\n")
    assert forbidden.scan(source, a.forbidden_python, a.forbidden_aten) == {}


def test_a_solution_with_record_caches_its_own_vars_and_a_main_check_scores_full(zygote):
    """Three styles the static scan once zeroed: a NamedTuple cache whose field is named
    `sigmoid`, a local named `vars`, and a `__main__` block checking against F.relu."""
    source = VARIANT.read_text()
    swaps = [
        ("def sigmoid_forward(x):",
         "class SigmoidCache(typing.NamedTuple):\n    sigmoid: torch.Tensor\n\n\n"
         "def sigmoid_forward(x):"),
        ("    return out, out\n", "    return out, SigmoidCache(out)\n"),
        ("    return dout * (cache - cache.square())\n",
         "    vars = cache.sigmoid - cache.sigmoid.square()\n    return dout * vars\n"),
        ("import torch\n", "import typing\n\nimport torch\n"),
    ]
    for old, new in swaps:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    source += ("\n\nif __name__ == \"__main__\":\n    x = torch.randn(5, 3)\n"
               "    assert torch.allclose(relu_forward(x)[0], F.relu(x))\n")
    r = grade(zygote, NAME, source, submission_id="styles")
    assert r.score == r.max_score, [(t.id, t.output) for t in r.tests if t.points < t.max_points]
