"""Every assignment, checked the same way: the promises of docs/authoring.md.

- the stub is what the reference's solution markers generate, and the fixtures are current;
- the reference scores 100%, the untouched stub 0 with "not attempted";
- every correct variant (another legitimate style) scores 100% on correctness;
- every mutant (a realistic student bug) loses points in each test it names.
"""

from __future__ import annotations

import inspect

import pytest

from grader.authoring import fixtures, mutants, stubgen, verify
from grader.engine import assignments, sources
from tests.conftest import ROOT, grade, suite

NAMES = assignments.available(ROOT)


def _ref_source(name: str) -> str:
    a = suite(name).assignment
    return (ROOT / "reference" / name / f"{a.module}.py").read_text()


def _files(name: str, sub: str, pattern: str):
    return sorted((ROOT / "reference" / name / sub).glob(pattern))


MUTANTS = [(n, p) for n in NAMES for p in _files(n, "mutants", "*.yaml")]
VARIANTS = [(n, p) for n in NAMES for p in _files(n, "variants", "*.py")]


def _correctness(result):
    return [t for t in result.tests if t.kind != "performance"]


@pytest.mark.parametrize("name", NAMES)
def test_spec_module_and_folder_agree(name):
    a = suite(name).assignment
    assert a.name == name and a.module == name
    s = suite(name)
    for t in a.tests:
        module = s.public_tests if t.visibility == "public" else s.hidden_tests
        assert callable(getattr(module, t.id, None)), f"no test function {t.id}"
    for fn in a.functions:
        assert fn in s.signatures, f"the stub lacks {fn}"
        ref_params = list(inspect.signature(getattr(s.reference, fn)).parameters)
        assert ref_params == s.signatures[fn], f"{fn}: stub and reference signatures differ"


@pytest.mark.parametrize("name", NAMES)
def test_stub_is_generated_from_reference(name):
    a = suite(name).assignment
    stub = (a.directory / f"{a.module}.py").read_text()
    assert stub == stubgen.generate(_ref_source(name)), \
        f"assignments/{name}/{a.module}.py is stale: run `dlgrade build {name}`"


@pytest.mark.parametrize("name", NAMES)
def test_fixtures_are_current(name, zygote, tmp_path):
    s = suite(name)
    fixtures.build(s, zygote, out_dir=tmp_path)
    for fresh in sorted(tmp_path.glob("*.npz")):
        committed = s.assignment.directory / "fixtures" / fresh.name
        assert committed.exists(), f"missing fixture {committed.name}: run `dlgrade build`"
        why = fixtures.difference(fresh, committed)
        assert why is None, f"{fresh.name} is stale ({why}): run `dlgrade build {name}`"


@pytest.mark.parametrize("name", NAMES)
def test_reference_scores_full_marks(name, zygote):
    r = grade(zygote, name, _ref_source(name))
    failed = {t.id: t.output for t in r.tests if not t.passed}
    assert not failed
    assert r.score == r.max_score and r.status == "graded"


@pytest.mark.parametrize("name", NAMES)
def test_stub_scores_zero_not_attempted(name, zygote):
    a = suite(name).assignment
    r = grade(zygote, name, (a.directory / f"{a.module}.py").read_text())
    assert r.score == 0 and r.status == "graded"
    for t in r.tests:
        assert t.not_attempted, f"{t.id}: {t.output}"
        assert t.output == "not attempted"


@pytest.mark.parametrize("name,path", VARIANTS, ids=[f"{n}-{p.stem}" for n, p in VARIANTS])
def test_variant(name, path, zygote):
    # Only correctness is asserted here, so the performance tests are not run (their
    # timing of every variant is `dlgrade calibrate`'s and `dlgrade release`'s job: see
    # docs/benchmarks/): timing that nothing asserts on only made the suite slower.
    r = grade(zygote, name, path.read_text(), performance=False)
    tests = _correctness(r)
    failed = {t.id: t.output for t in tests if not t.passed}
    assert not failed, f"{path.name} should earn every correctness point"


@pytest.mark.parametrize("name,path", MUTANTS, ids=[f"{n}-{p.stem}" for n, p in MUTANTS])
def test_mutant_loses_points_in_its_tests(name, path, zygote):
    mutant = mutants.load(path)
    source = mutants.apply(_ref_source(name), mutant)
    # Graded on the tests it names only: those are all that is asserted (a test's hidden
    # inputs depend on the seed and its own id, not on which other tests run).
    r = grade(zygote, name, source, submission_id=f"mutant-{path.stem}",
              test_ids=set(mutant.tests))
    by_id = {t.id: t for t in r.tests}
    for tid in mutant.tests:
        assert tid in by_id, f"{path.name}: unknown test {tid}"
        t = by_id[tid]
        assert t.points < t.max_points, f"{path.name} is not caught by {tid}"


def test_every_assignment_has_enough_mutants():
    for name in NAMES:
        assert len(_files(name, "mutants", "*.yaml")) >= verify.MIN_MUTANTS, name


def test_derive_seed_depends_on_every_part():
    seeds = {sources.derive_seed(*p) for p in [("a", "b"), ("a", "c"), ("b", "b"), ("ab",)]}
    assert len(seeds) == 4
