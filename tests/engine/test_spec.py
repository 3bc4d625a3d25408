"""The spec loader: every mistake is a load error naming the file, the key and the value."""

from __future__ import annotations

import pytest
import yaml

from grader.engine import spec

BASE = """
name: demo
title: Demo
module: demo
functions:
  f: out
tests:
  - {id: f_public, points: 1, visibility: public, kind: compare, functions: [f]}
"""


def _parse(extra_tests: str = "", base: str = BASE):
    return spec.parse(yaml.safe_load(base + extra_tests), directory=None, file="a.yaml")


PERF = "  - {id: perf_f, points: 1, visibility: hidden, kind: performance, functions: [f],\n" \
       "     options: %s}\n"


def test_performance_options_become_per_device_settings():
    a = _parse(PERF % "{cpu: {max_ratio: 8, sets: 4}, cuda: {max_ratio: 6, sizes: {N: 64}},"
                      " rounds: 9, sizes: {N: 8, D: 3}}")
    perf = a.test("perf_f").perf
    assert perf["cpu"] == spec.PerfOptions(max_ratio=8.0, sizes={"N": 8, "D": 3}, rounds=9,
                                           sets=4)
    assert perf["cuda"].sizes == {"N": 64, "D": 3} and perf["cuda"].rounds == 9
    assert perf["cuda"].sets == 1 and perf["cuda"].max_ratio == 6.0


@pytest.mark.parametrize("options, message", [
    ("{cuda: {max_ratio: 6}}", "tests[1].options.cpu: expected the CPU settings"),
    ("{cpu: {}}", "tests[1].options.cpu.max_ratio: expected a number > 1 (required key)"),
    ("{cpu: {max_ratio: 8, round: 3}}", "tests[1].options.cpu.round: expected one of the keys"),
    ("{cpu: {max_ratio: 8}, sets: 0}", "tests[1].options.cpu.sets: expected an integer >= 1"),
    ("{cpu: {max_ratio: 8, sizes: {N: 2.5}}}", "tests[1].options.cpu.sizes.N: expected an "
                                               "integer >= 1, got 2.5"),
    ("{cpu: {max_ratio: 8, dtype: float16}}", "tests[1].options.cpu.dtype: expected one of"),
    ("{cpu: {max_ratio: 0.5}}", "tests[1].options.cpu.max_ratio: expected a number >= 1"),
    ("{cpu: {max_ratio: 8}, budget: 3}", "tests[1].options.budget: expected one of the keys"),
])
def test_a_typo_in_performance_options_fails_at_load(options, message):
    with pytest.raises(spec.SpecError) as e:
        _parse(PERF % options)
    assert str(e.value).startswith("a.yaml: " + message), str(e.value)


def test_a_test_naming_an_unknown_function_fails_at_load():
    with pytest.raises(spec.SpecError, match=r"tests\[1\]\.functions\[0\]: expected a function "
                                             r"listed under functions, got 'g'"):
        _parse("  - {id: g_hidden, points: 1, visibility: hidden, kind: compare, "
               "functions: [g]}\n")


def test_ids_kinds_and_points_are_checked():
    with pytest.raises(spec.SpecError, match=r"tests\[1\]\.id: expected a performance test id"):
        _parse("  - {id: f_speed, points: 1, visibility: hidden, kind: performance, "
               "functions: [f], options: {cpu: {max_ratio: 8}}}\n")
    with pytest.raises(spec.SpecError, match=r"tests\[1\]\.id: expected an id not used"):
        _parse("  - {id: f_public, points: 1, visibility: hidden, kind: compare, "
               "functions: [f]}\n")
    with pytest.raises(spec.SpecError, match=r"tests\[1\]\.points: expected a number >= 0, "
                                             r"got -2"):
        _parse("  - {id: f_hidden, points: -2, visibility: hidden, kind: compare, "
               "functions: [f]}\n")


def test_compare_tests_keep_free_form_options_and_no_perf_settings():
    a = _parse("  - {id: f_hidden, points: 1, visibility: hidden, kind: compare, "
               "functions: [f], options: {float32_floor: 1.0e-6}}\n")
    assert a.test("f_hidden").options == {"float32_floor": 1e-6}
    assert a.test("f_hidden").perf == {}


def test_every_shipped_spec_loads():
    from grader.engine import assignments

    names = assignments.available()
    assert "backprop" in names
    for name in names:
        a = assignments.load(name)
        assert all(t.perf.get("cpu") for t in a.tests if t.kind == "performance"), name


def test_a_listed_test_without_its_function_fails_when_the_suite_loads(tmp_path):
    import shutil

    from grader.engine import assignments, grading

    d = tmp_path / "backprop"
    shutil.copytree(assignments.assignment_dir("backprop"), d)
    text = (d / "public_tests.py").read_text()
    (d / "public_tests.py").write_text(text.replace("def linear_public(t)",
                                                    "def linear_public_renamed(t)"))
    with pytest.raises(spec.SpecError, match=r"public_tests.py: defines no test function "
                                             r"linear_public\(t\)"):
        grading.load_suite(spec.load(d), None)


def test_kind_defaults_from_the_id():
    """perf_* ids are performance tests and the others compare tests, unless `kind` says
    otherwise (property tests); a kind that contradicts the id is still refused."""
    a = _parse("  - {id: f_hidden, points: 1, visibility: hidden, functions: [f]}\n"
               "  - {id: f_prop, points: 1, visibility: hidden, kind: property, functions: [f]}\n"
               "  - {id: perf_f, points: 1, visibility: hidden, functions: [f],\n"
               "     options: {cpu: {max_ratio: 8}}}\n")
    assert [t.kind for t in a.tests] == ["compare", "compare", "property", "performance"]
    with pytest.raises(spec.SpecError, match=r"tests\[1\].id: expected a performance test id"):
        _parse("  - {id: perf_g, points: 1, visibility: hidden, kind: compare, "
               "functions: [f]}\n")
