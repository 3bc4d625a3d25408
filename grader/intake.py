"""Finding submissions: what a TA points `dlgrade grade` at.

A SUBMISSION argument is a folder holding the module file (one student), a `.py`, or a
folder of those (one per student). Each becomes a `Submission` with an id (the entry's
name without extension) and either its source text or the reason it cannot be graded.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from grader import notebook

MAX_SOURCE_BYTES = 2 * 1024 * 1024


class IntakeError(Exception):
    """The submission paths themselves are unusable (missing, empty)."""


@dataclass
class Submission:
    """One student's work, read on the trusted side."""

    id: str
    origin: str
    """Where it came from (a path), for messages."""
    source: str | None = None
    error: str | None = None
    """Why it cannot be graded; the student gets a zero-score result with this reason."""

    @property
    def digest(self) -> str:
        data = (self.source if self.source is not None else f"error:{self.error}").encode()
        return hashlib.sha256(data).hexdigest()[:16]


def _read_source(path: Path) -> tuple[str | None, str | None]:
    try:
        if path.is_symlink():
            return None, f"{path.name} is a symbolic link; submit the file itself"
        size = path.stat().st_size
        if size > MAX_SOURCE_BYTES:
            return None, f"{path.name} is {size} bytes; the limit is {MAX_SOURCE_BYTES}"
        raw = path.read_bytes()
    except OSError as e:
        return None, f"cannot read {path.name}: {e.strerror}"
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        return None, f"{path.name} is not UTF-8 text"


def _one(path: Path, module: str, sid: str) -> Submission:
    if path.is_dir():
        target = path / f"{module}.py"
        if not target.is_file() and (path / f"{module}.ipynb").is_file():
            return _one(path / f"{module}.ipynb", module, sid)
        if not target.is_file():
            found = sorted(p.name for p in path.iterdir())[:5]
            return Submission(sid, str(path), error=f"no {module}.py in the submission "
                              f"(found: {', '.join(found) or 'nothing'})")
        source, err = _read_source(target)
    elif path.suffix == ".py":
        source, err = _read_source(path)
    elif path.suffix == ".ipynb":
        source, err = _read_source(path)
        if source is not None:
            try:
                source = notebook.extract_code(source)
            except notebook.NotebookError as e:
                source, err = None, f"{path.name}: {e}"
    else:
        return Submission(sid, str(path), error=f"{path.name}: expected a folder, a .py file "
                                                "or a .ipynb notebook")
    return Submission(sid, str(path), source=source, error=err)


def collect(paths: list[Path], module: str) -> list[Submission]:
    """Expand the command-line paths into submissions, in a stable order."""
    subs: list[Submission] = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise IntakeError(f"submission path not found: {p}")
        if p.is_dir() and not (p / f"{module}.py").exists():
            entries = sorted(e for e in p.iterdir() if not e.name.startswith("."))
            if not entries:
                raise IntakeError(f"no submissions in {p}: the folder is empty")
            subs.extend(_one(e, module, e.stem if e.is_file() else e.name) for e in entries)
        else:
            # A lone `<module>.py` is named after its folder (students/alice/backprop.py).
            if p.is_file() and p.stem == module:
                sid = p.resolve().parent.name
            else:
                sid = p.stem if p.is_file() else p.resolve().name
            subs.append(_one(p, module, sid))
    return _distinct(subs)


def _distinct(subs: list[Submission]) -> list[Submission]:
    """Two entries with the same id (alice.py and alice.zip) get -2, -3 suffixes."""
    seen: dict[str, int] = {}
    for s in subs:
        n = seen.get(s.id, 0) + 1
        seen[s.id] = n
        if n > 1:
            s.id = f"{s.id}-{n}"
    return subs


_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_names(ids: list[str]) -> dict[str, str]:
    """Folder names for ids: safe characters only, distinct, never '.', '..' or hidden."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for sid in ids:
        name = _SAFE.sub("_", sid)[:80].lstrip(".") or "submission"
        if name != sid or name.lower() in used:
            name = f"{name}-{hashlib.sha256(sid.encode()).hexdigest()[:8]}"
        while name.lower() in used:
            name += "_"
        used.add(name.lower())
        out[sid] = name
    return out
