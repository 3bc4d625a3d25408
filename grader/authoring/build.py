"""`dlgrade build`: regenerate what an assignment derives from its reference.

Two files are generated, never edited by hand: the student stub
(`assignments/<name>/<module>.py`, from the reference's solution markers: grader.authoring.
stubgen) and the public-test fixtures (`assignments/<name>/fixtures/`, recorded from the
reference: grader.authoring.fixtures). The stub comes first, since the suite loads test
signatures from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.authoring import fixtures, stubgen
from grader.boundary.session import Zygote
from grader.engine import assignments, grading


class BuildError(Exception):
    """The reference cannot produce the stub or its fixtures (one line saying why)."""


@dataclass
class Built:
    """What `build` wrote for one assignment."""

    name: str
    stub: Path
    reference: Path
    fixtures: list[Path]


def _suite(name: str, root: Path | None) -> grading.Suite:
    a = assignments.load(name, root)
    ref_dir = assignments.reference_dir(name, root)
    if ref_dir is None:
        raise BuildError(f"no reference folder for {name} under "
                         f"{(root or assignments.project_root()) / 'reference'}")
    return grading.load_suite(a, ref_dir)


def build(name: str, zygote: Zygote, root: Path | None = None) -> Built:
    """Write the stub from the reference, then record the public fixtures."""
    suite = _suite(name, root)
    a = suite.assignment
    ref = suite.reference_dir / f"{a.module}.py"
    stub = a.directory / f"{a.module}.py"
    try:
        stub.write_text(stubgen.generate(ref.read_text(encoding="utf-8"), str(ref)),
                        encoding="utf-8")
    except stubgen.MarkerError as e:
        raise BuildError(str(e)) from None
    suite = _suite(name, root)  # the signatures come from the stub just written
    try:
        paths = fixtures.build(suite, zygote)
    except fixtures.FixtureBuildError as e:
        raise BuildError(str(e)) from None
    return Built(name, stub, ref, paths)
