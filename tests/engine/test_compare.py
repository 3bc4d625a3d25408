"""Comparisons: the order of checks and the messages a student reads."""

import torch

from grader.engine.compare import compare_tensor, compare_value
from grader.engine.spec import Tolerance

TOL = Tolerance(rtol=1e-6)


def test_message_names_count_position_and_values():
    exp = torch.arange(24, dtype=torch.float64).reshape(2, 3, 4)
    got = exp.clone()
    got[1, 2, 1] += 0.5
    got[0, 0, 2] += 0.1
    got[1, 0, 0] += 0.2
    m = compare_tensor("dx", got, exp, TOL)
    assert m.kind == "values"
    assert m.detail.startswith("dx: 3 of 24 values differ; worst at (1, 2, 1): got 21.5, "
                               "expected 21")
    assert m.hidden() == "dx: values differ"


def test_shape_then_dtype_then_finiteness():
    exp = torch.zeros(3, 4, dtype=torch.float64)
    assert compare_tensor("out", torch.zeros(4, 3, dtype=torch.float32), exp, TOL).kind == "shape"
    m = compare_tensor("out", torch.zeros(3, 4, dtype=torch.float32), exp, TOL)
    assert m.kind == "dtype" and "expected dtype float64, got float32" in m.detail
    bad = exp.clone()
    bad[2, 1] = float("nan")
    m = compare_tensor("out", bad, exp, TOL)
    assert m.kind == "nonfinite" and "(2, 1)" in m.detail


def test_float32_answer_checked_against_float64_reference():
    exp = torch.randn(5, dtype=torch.float64)
    got = exp.to(torch.float32)
    assert compare_tensor("x", got, exp, Tolerance(rtol=1e-6), dtype=torch.float32) is None
    m = compare_tensor("x", got.double(), exp, TOL, dtype=torch.float32)
    assert m.kind == "dtype"


def test_atol_scaled_accepts_cancellation_near_zero():
    exp = torch.tensor([1000.0, 1e-9], dtype=torch.float64)
    got = torch.tensor([1000.0, 3e-5], dtype=torch.float64)
    assert compare_tensor("g", got, exp, Tolerance(rtol=1e-6)) is not None
    assert compare_tensor("g", got, exp, Tolerance(rtol=1e-6, atol_scaled=1e-7)) is None


def test_matching_infinities_pass_and_nan_for_nan():
    exp = torch.tensor([float("inf"), float("nan"), 1.0])
    assert compare_tensor("v", exp.clone(), exp, TOL) is None
    assert compare_tensor("v", torch.tensor([1.0, float("nan"), 1.0]), exp, TOL).kind == \
        "nonfinite"


def test_non_tensors_and_subclasses_are_type_errors():
    exp = torch.zeros(2)
    assert compare_tensor("out", [0.0, 0.0], exp, TOL).kind == "type"
    m = compare_tensor("out", torch.zeros(2), exp, TOL, got_type="numpy.ndarray")
    assert m.kind == "type" and "numpy.ndarray" in m.detail


def test_device_is_checked():
    m = compare_tensor("out", torch.zeros(2), torch.zeros(2), TOL, device="cuda:0",
                       got_device="cpu")
    assert m.kind == "device"


def test_integer_and_bool_outputs_are_exact():
    exp = torch.tensor([[True, False], [True, True]])
    got = exp.clone()
    got[1, 0] = False
    m = compare_tensor("mask", got, exp, TOL)
    assert m.kind == "values" and "(1, 0)" in m.detail


def test_nested_dicts_lists_and_none():
    exp = {"W1": torch.ones(2), "b1": torch.zeros(1)}

    def tol(d):
        return TOL

    assert compare_value("grads", {"W1": torch.ones(2), "b1": torch.zeros(1)}, exp, tol) is None
    m = compare_value("grads", {"W1": torch.ones(2)}, exp, tol)
    assert m.kind == "structure" and "b1" in m.detail
    m = compare_value("grads", {"W1": torch.ones(2), "b1": torch.ones(1)}, exp, tol)
    assert m.name == "grads['b1']"
    assert compare_value("db", None, None, tol) is None
    assert compare_value("db", torch.zeros(1), None, tol).kind == "type"
    assert compare_value("clipped", [torch.ones(1)], [torch.ones(1), torch.ones(1)],
                         tol).kind == "structure"


def test_zero_dim_scalars_report_without_position():
    m = compare_tensor("loss", torch.tensor(1.0, dtype=torch.float64),
                       torch.tensor(2.0, dtype=torch.float64), TOL)
    assert m.detail.startswith("loss: got 1, expected 2")
    m = compare_tensor("loss", torch.tensor([2.0], dtype=torch.float64),
                       torch.tensor(2.0, dtype=torch.float64), TOL)
    assert m.kind == "shape" and "expected shape ()" in m.detail


def test_unindexed_device_matches_any_index():
    assert compare_tensor("o", torch.zeros(1), torch.zeros(1), TOL, device="cuda",
                          got_device="cuda:0") is None
    assert compare_tensor("o", torch.zeros(1), torch.zeros(1), TOL, device="cuda:1",
                          got_device="cuda:0").kind == "device"


def test_natural_scale_gives_slack_where_every_value_underflows():
    # Issue 15: float32 softmax cross-entropy, label at the argmax, logits ~1e4: every
    # entry of dlogits is ~1e-30 in float64 and exactly 0 in float32. The tensor's own
    # largest value gives no slack; the natural size 1/N does.
    exp = torch.tensor([[-2e-30, 1e-30, 1e-30]], dtype=torch.float64)
    got = torch.zeros(1, 3, dtype=torch.float32)
    tol = Tolerance(rtol=1e-4, atol_scaled=1e-4)
    assert compare_tensor("dlogits", got, exp, tol, dtype=torch.float32).kind == "values"
    assert compare_tensor("dlogits", got, exp, tol, dtype=torch.float32, natural=1.0) is None
    # ... and a bug of the natural size is still caught.
    wrong = torch.tensor([[-1.0, 1e-30, 1e-30]], dtype=torch.float32)
    m = compare_tensor("dlogits", wrong, exp, tol, dtype=torch.float32, natural=1.0)
    assert m.kind == "values"
    # The natural size never tightens a tolerance below the tensor's own scale.
    big = torch.tensor([10.0, 0.0], dtype=torch.float64)
    assert compare_tensor("x", big + 5e-4, big, tol, natural=0.01) is None
    assert compare_value("g", {"a": got}, {"a": exp}, lambda d: tol,
                         float_dtype=torch.float32, natural=1.0) is None


def test_values_equal_to_six_digits_are_shown_in_full():
    m = compare_tensor("x", torch.tensor([1.5 * (1 - 2e-7)], dtype=torch.float64),
                       torch.tensor([1.5], dtype=torch.float64), TOL.__class__(rtol=1e-9))
    assert "got 1.4999997" in m.detail and "expected 1.5" in m.detail
