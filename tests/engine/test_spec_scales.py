"""The spec's `scales`: an output's natural size as an expression of the call's arguments."""

from pathlib import Path

import pytest
import torch

from grader.engine import spec
from tests.conftest import ROOT, suite

BASE = {"name": "toy", "title": "Toy", "module": "toy",
        "functions": {"f": ["loss", "dlogits"], "g": "dx"},
        "tests": [{"id": "t", "points": 1, "visibility": "hidden", "kind": "compare",
                   "functions": ["f"]}]}


def parse(scales):
    return spec.parse({**BASE, "scales": scales}, Path("."), "assignment.yaml")


def test_expressions_evaluate_over_named_arguments():
    a = parse({"f": {"dlogits": "1 / size(logits, 0)", "loss": 1}, "g": {"dx": "absmax(dout) / 4"}})
    logits = torch.zeros(8, 3)
    assert a.scales["f"]["dlogits"].evaluate({"logits": logits, "y": None}) == 1 / 8
    assert a.scales["f"]["loss"].evaluate({}) == 1.0
    assert a.scales["g"]["dx"].evaluate({"dout": torch.tensor([-2.0, 1.0])}) == 0.5
    e = spec.Scale.parse("sqrt(numel(x)) * rms(x) + max(1, 2) - min(3, -1) ** 2")
    assert e.evaluate({"x": torch.ones(4)}) == pytest.approx(2 + 2 - 1)


def test_minstd_is_the_smallest_per_channel_standard_deviation():
    """Batch norm's per-channel statistic of an (N, C, H, W) input: over N, H and W."""
    x = torch.randn(5, 3, 2, 4, dtype=torch.float64)
    x[:, 1] = x[:, 1] * 0.01 + 7.0  # channel 1: tiny spread around a large offset
    expected = x[:, 1].std(unbiased=False).item()
    assert spec.Scale.parse("minstd(x, 1)").evaluate({"x": x}) == pytest.approx(expected)
    assert spec.Scale.parse("minstd(x, 1)").evaluate({"x": x.float()}) == \
        pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("scales,message", [
    ({"h": {"dx": "1"}}, "scales.h: expected a function listed under functions, got 'h'"),
    ({"f": {"cache": "1"}}, "scales.f.cache: expected one of the outputs loss, dlogits"),
    ({"f": {"loss": "__import__('os')"}}, "expected an expression of the arguments (calls "
                                          "only to absmax"),
    ({"f": {"loss": "x.shape"}}, "(Attribute is not allowed)"),
    ({"f": {"loss": "1 +"}}, "(not an expression"),
    ({"f": {"loss": "'a'"}}, "(a number, not 'a')"),
])
def test_malformed_scales_name_key_expected_and_got(scales, message):
    with pytest.raises(spec.SpecError) as e:
        parse(scales)
    assert message in str(e.value)


def test_a_missing_argument_is_named():
    with pytest.raises(KeyError, match="no argument named logits"):
        spec.Scale.parse("1 / size(logits, 0)").evaluate({"x": torch.ones(2)})


def test_every_scale_names_arguments_of_its_function_or_its_forward():
    # A scale may name the function's parameters and, for a backward, those of a forward
    # of the same assignment (the call whose cache it takes).
    for path in sorted((ROOT / "assignments").glob("*/assignment.yaml")):
        s = suite(path.parent.name)
        params = {p for fn in s.signatures for p in s.signatures[fn]}
        for fn, outs in s.assignment.scales.items():
            for out, scale in outs.items():
                unknown = set(scale.names) - params
                assert not unknown, f"{path}: scales.{fn}.{out} names {unknown}"
