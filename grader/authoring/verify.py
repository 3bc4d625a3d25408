"""Release verification: what must hold before an assignment ships.

- the stub is what the reference's solution markers generate;
- the public fixtures are current (recorded afresh from the reference, they match);
- the reference scores full marks on public and hidden tests (performance included:
  the thresholds hold for it);
- the untouched stub scores 0, every test "not attempted";
- every mutant (reference/<name>/mutants/*.yaml) loses points in each test it names;
- nothing is left of `dlgrade new`'s placeholders (grader.authoring.scaffold), and there
  are at least MIN_MUTANTS mutants;
- every correct variant (variants/correct_*.py) earns every correctness point and passes
  the performance tests; every naive variant (variants/naive_*.py) earns every
  correctness point and fails at least one performance test, when the assignment has any.

Each problem is one line naming the assignment; an empty list means the release may go.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader.authoring import fixtures, mutants, scaffold, stubgen
from grader.boundary.session import Zygote
from grader.engine import grading, sources

SEED_LABEL = "dlgrade-release-verify"
MIN_MUTANTS = 8
"""A test suite is only as good as the bugs it is shown to catch: fewer than this many
realistic mutants leaves whole classes of student bugs unchecked."""


@dataclass
class Verification:
    """The outcome for one assignment."""

    assignment: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.assignment}: {text}")

    @property
    def ok(self) -> bool:
        return not self.problems


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = lines[1] if len(lines) > 1 and lines[0].endswith("cases passed") else \
        (lines[0] if lines else "")
    return detail[:160]


def _fixtures_current(suite: grading.Suite, zygote: Zygote, v: Verification) -> None:
    a = suite.assignment
    with tempfile.TemporaryDirectory(prefix="dlgrade-verify-") as tmp:
        try:
            fresh_paths = fixtures.build(suite, zygote, out_dir=Path(tmp))
        except fixtures.FixtureBuildError as e:
            v.problem(str(e).removeprefix(f"{a.name}: "))
            return
        for fresh in fresh_paths:
            committed = a.directory / "fixtures" / fresh.name
            if not committed.exists():
                v.problem(f"fixture {fresh.name} is missing: run `dlgrade build {a.name}`")
                continue
            why = fixtures.difference(fresh, committed)
            if why:
                v.problem(f"fixture {fresh.name} is stale ({why}): run "
                          f"`dlgrade build {a.name}`")
        fresh_names = {p.name for p in fresh_paths}
        for old in sorted((a.directory / "fixtures").glob("*.npz")):
            if old.name not in fresh_names:
                v.warnings.append(f"{a.name}: fixtures/{old.name} belongs to no public test")


def steps(suite: grading.Suite) -> int:
    """How many times `verify` calls its progress callback for `suite` (fixtures,
    reference, stub, each mutant, each correct_/naive_ variant): a progress bar's total."""
    if suite.reference is None or suite.reference_dir is None:
        return 0
    variants = [p for p in (suite.reference_dir / "variants").glob("*.py")
                if p.stem.split("_")[0] in ("correct", "naive")]
    return 3 + len(mutants.find(suite.reference_dir)) + len(variants)


def _placeholders(suite: grading.Suite, v: Verification) -> None:
    """One problem per authored file that still holds a `dlgrade new` placeholder (the
    generated stub and fixtures are checked through their sources)."""
    a = suite.assignment
    folders = [a.directory] + ([suite.reference_dir] if suite.reference_dir else [])
    root = a.directory.parent.parent
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.suffix not in (".py", ".yaml", ".yml", ".md") \
                    or "fixtures" in path.relative_to(folder).parts \
                    or path == a.directory / f"{a.module}.py":
                continue
            lines = [i for i, line in enumerate(path.read_text(encoding="utf-8",
                                                                errors="replace").splitlines(), 1)
                     if scaffold.PLACEHOLDER in line]
            if lines:
                try:
                    shown = path.relative_to(root)
                except ValueError:
                    shown = path
                where = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
                v.problem(f"{shown} still holds {len(lines)} placeholder"
                          f"{'s' if len(lines) > 1 else ''} {scaffold.PLACEHOLDER} from "
                          f"`dlgrade new` (line{'s' if len(lines) > 1 else ''} {where}): "
                          "replace them")


def verify(suite: grading.Suite, zygote: Zygote, device: str = "cpu",
           progress: Callable[[str], None] | None = None) -> Verification:
    a = suite.assignment
    v = Verification(a.name)
    say = progress or (lambda _msg: None)
    if suite.reference is None or suite.reference_dir is None:
        v.problem(f"no reference solution reference/{a.name}/{a.module}.py")
        return v
    _placeholders(suite, v)
    ref_path = suite.reference_dir / f"{a.module}.py"
    ref_source = ref_path.read_text(encoding="utf-8")
    stub_path = a.directory / f"{a.module}.py"
    stub_source = stub_path.read_text(encoding="utf-8") if stub_path.exists() else ""

    try:
        if stubgen.generate(ref_source, str(ref_path)) != stub_source:
            v.problem(f"the stub {a.module}.py is stale: run `dlgrade build {a.name}`")
    except stubgen.MarkerError as e:
        v.problem(str(e))
    if not (a.directory / "README.md").is_file():
        v.warnings.append(f"{a.name}: no handout README.md; the release gets a minimal one "
                          "made from the spec")
    if any(t.visibility == "hidden" for t in a.tests) and suite.hidden_tests is None:
        v.problem(f"hidden tests are listed but reference/{a.name}/hidden_tests.py is missing")
        return v

    say(f"{a.name}: fixtures")
    _fixtures_current(suite, zygote, v)
    perf = [t for t in a.tests if t.kind == "performance"]

    def grade(source: str, label: str, test_ids=None) -> grading.SubmissionResult:
        seed = sources.derive_seed(SEED_LABEL, a.name, label)
        return grading.grade_submission(suite, label, source, zygote=zygote, seed=seed,
                                        device=device, test_ids=test_ids)

    say(f"{a.name}: reference")
    r = grade(ref_source, "reference")
    for t in r.tests:
        if not t.passed:
            v.problem(f"the reference loses points in {t.id} ({t.points:g}/{t.max_points:g}): "
                      f"{_first_line(t.output)}")
    v.summary.append(f"reference {r.score:g}/{r.max_score:g}")

    say(f"{a.name}: stub")
    r = grade(stub_source, "stub")
    for t in r.tests:
        if t.points > 0 or not t.not_attempted:
            v.problem(f"the stub is not 'not attempted' in {t.id} "
                      f"({t.points:g}/{t.max_points:g}): {_first_line(t.output)}")
    v.summary.append(f"stub {r.score:g}")

    paths = mutants.find(suite.reference_dir)
    if len(paths) < MIN_MUTANTS:
        v.problem(f"{len(paths)} mutant{'s' if len(paths) != 1 else ''} in reference/{a.name}/"
                  f"mutants/, expected at least {MIN_MUTANTS} (one realistic student bug "
                  "per file, each naming the tests that must catch it)")
    caught = 0
    for path in paths:
        say(f"{a.name}: mutant {path.stem}")
        try:
            m = mutants.load(path)
            source = mutants.apply(ref_source, m)
        except mutants.MutantError as e:
            v.problem(f"mutant {e}")
            continue
        unknown = [tid for tid in m.tests if tid not in {t.id for t in a.tests}]
        if unknown:
            v.problem(f"mutant {m.name} names unknown tests: {', '.join(unknown)}")
            continue
        # Only the tests a mutant names decide (a test's inputs depend on its own id and
        # the seed, not on the others run): the rest, performance tests above all, would
        # cost time and decide nothing.
        r = grade(source, f"mutant-{m.name}", test_ids=set(m.tests))
        by_id = {t.id: t for t in r.tests}
        missed = [tid for tid in m.tests if by_id[tid].points >= by_id[tid].max_points]
        for tid in missed:
            v.problem(f"mutant {m.name} ({m.description}) is not caught by {tid}")
        caught += not missed
    v.summary.append(f"{caught}/{len(paths)} mutants caught")

    variants = sorted((suite.reference_dir / "variants").glob("*.py"))
    if not any(p.stem.startswith("correct_") for p in variants):
        v.problem(f"no correct variant in reference/{a.name}/variants/ (correct_*.py: "
                  "another legitimate way to write the solution, which must score 100%)")
    for path in variants:
        kind = path.stem.split("_")[0]
        if kind not in ("correct", "naive"):
            v.warnings.append(f"{a.name}: variants/{path.name} is neither correct_* nor "
                              "naive_*; not checked")
            continue
        say(f"{a.name}: variant {path.stem}")
        r = grade(path.read_text(encoding="utf-8"), f"variant-{path.stem}")
        for t in r.tests:
            if t.kind != "performance" and not t.passed:
                v.problem(f"variant {path.name} loses correctness points in {t.id}: "
                          f"{_first_line(t.output)}")
            if t.kind == "performance" and kind == "correct" and not t.passed:
                v.problem(f"performance threshold: the correct variant {path.name} fails "
                          f"{t.id}: {_first_line(t.output)}")
        if kind == "naive" and perf and all(t.passed for t in r.tests if t.kind == "performance"):
            v.problem(f"performance threshold: the naive variant {path.name} passes every "
                      f"performance test ({', '.join(t.id for t in perf)})")
    if variants:
        v.summary.append(f"{len(variants)} variants")
    if perf:
        v.summary.append(f"{len(perf)} performance tests")
    return v
