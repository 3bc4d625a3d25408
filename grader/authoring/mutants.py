"""Mutants: realistic student bugs, written as edits of the reference.

`reference/<name>/mutants/<bug>.yaml` holds a description, the tests that must lose points,
and `replace` edits ({old, new}) applied to the reference source in order; each `old` must
occur exactly once, so an edit never lands somewhere unintended after the reference
changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


class MutantError(ValueError):
    """A mutant file is malformed or no longer applies to the reference."""


@dataclass(frozen=True)
class Mutant:
    name: str
    """The file's stem."""
    description: str
    tests: tuple[str, ...]
    """Test ids that must each lose points."""
    replace: tuple[tuple[str, str], ...]
    path: Path | None = None


def load(path: Path) -> Mutant:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise MutantError(f"{path.name}: cannot read: {e}") from None
    if not isinstance(data, dict):
        raise MutantError(f"{path.name}: expected a mapping with description, tests, replace")
    desc, tests, rep = data.get("description"), data.get("tests"), data.get("replace")
    if not isinstance(desc, str) or not desc.strip():
        raise MutantError(f"{path.name}: description: expected a non-empty string")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise MutantError(f"{path.name}: tests: expected a non-empty list of test ids")
    if not isinstance(rep, list) or not rep:
        raise MutantError(f"{path.name}: replace: expected a non-empty list of {{old, new}}")
    pairs = []
    for i, r in enumerate(rep):
        if not (isinstance(r, dict) and isinstance(r.get("old"), str) and r["old"]
                and isinstance(r.get("new"), str)):
            raise MutantError(f"{path.name}: replace[{i}]: expected {{old: text, new: text}}")
        pairs.append((r["old"], r["new"]))
    return Mutant(path.stem, desc.strip(), tuple(tests), tuple(pairs), path)


def apply(source: str, mutant: Mutant | dict, where: str = "") -> str:
    """The reference source with the mutant's edits applied."""
    if isinstance(mutant, dict):
        pairs = [(r["old"], r["new"]) for r in mutant["replace"]]
        where = where or "mutant"
    else:
        pairs = list(mutant.replace)
        where = where or (mutant.path.name if mutant.path else mutant.name)
    for i, (old, new) in enumerate(pairs):
        count = source.count(old)
        if count != 1:
            raise MutantError(f"{where}: replace[{i}].old occurs {count} times in the "
                              "reference (must be exactly once)")
        source = source.replace(old, new)
    return source


def find(reference_dir: Path) -> list[Path]:
    return sorted((Path(reference_dir) / "mutants").glob("*.yaml"))
