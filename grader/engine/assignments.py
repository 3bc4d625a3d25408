"""Where assignments live: `assignments/<name>/` and, for graders, `reference/<name>/`.

The project root is the folder holding `assignments/`: $DLGRADE_ROOT if set, else the
checkout this package was installed from (editable install) or the current directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from grader.engine import spec

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class UnknownAssignment(LookupError):
    """No assignment of that name."""


def project_root() -> Path:
    env = os.environ.get("DLGRADE_ROOT")
    if env:
        return Path(env).resolve()
    if (PACKAGE_ROOT / "assignments").is_dir():
        return PACKAGE_ROOT
    return Path.cwd()


def available(root: Path | None = None) -> list[str]:
    root = root or project_root()
    base = root / "assignments"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "assignment.yaml").is_file())


def assignment_dir(name: str, root: Path | None = None) -> Path:
    """A student's handout folder (the current directory, holding that assignment's spec)
    comes first; then the project's `assignments/<name>/`."""
    here = Path.cwd() / "assignment.yaml"
    if here.is_file() and _name_in(here) == name:
        return Path.cwd()
    root = root or project_root()
    d = root / "assignments" / name
    if not (d / "assignment.yaml").is_file():
        names = ", ".join(available(root)) or "none found"
        raise UnknownAssignment(f"unknown assignment {name!r}; available: {names}")
    return d


def _name_in(path: Path) -> str | None:
    try:
        return spec.load(path).name
    except spec.SpecError:
        return None


def reference_dir(name: str, root: Path | None = None) -> Path | None:
    d = (root or project_root()) / "reference" / name
    return d if d.is_dir() else None


def load(name: str, root: Path | None = None) -> spec.Assignment:
    a = spec.load(assignment_dir(name, root))
    if a.name != name:
        raise spec.SpecError(f"{a.directory / 'assignment.yaml'}: name: expected {name!r} "
                             f"(the folder's name), got {a.name!r}")
    return a
