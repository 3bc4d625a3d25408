"""The output folder of `dlgrade grade`: whether it can take this run, and its secret.

Kept free of torch (and of everything that imports it), so that `dlgrade grade` refuses a
folder it cannot use before it starts anything heavy.
"""

from __future__ import annotations

import json
import os
import secrets as _secrets
import tempfile
from pathlib import Path

MARKER = ".dlgrade.json"
"""Written into an output folder on its first run: which assignment it holds grades of."""


class OutDirError(ValueError):
    """The output folder cannot be used (a file, or it holds another assignment's grades)."""


def out_dir_assignment(out_dir: Path) -> str | None:
    """The assignment whose grades `out_dir` holds: its marker, else (a folder written
    before markers existed) the `assignment` of a results.json in it; None when empty."""
    marker = out_dir / MARKER
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("assignment"), str):
            return data["assignment"]
    except (OSError, ValueError):
        pass
    if not out_dir.is_dir():
        return None
    for results in sorted(out_dir.glob("*/results.json"))[:20]:
        try:
            name = json.loads(results.read_text(encoding="utf-8")).get("assignment")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(name, str):
            return name
    return None


def check_out_dir(out_dir: Path, assignment: str, force: bool = False) -> None:
    """Refuse an output folder that is a file, or that holds another assignment's grades
    (grading into it would replace its grades.csv and report.html): unless `force`."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutDirError(f"--out {out_dir}: is a file; expected a folder (created when "
                          "missing)")
    for parent in out_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutDirError(f"--out {out_dir}: {parent} is a file; expected a folder")
            break
    other = out_dir_assignment(out_dir)
    if other is not None and other != assignment and not force:
        raise OutDirError(f"--out {out_dir}: holds the grades of assignment {other!r}, not "
                          f"{assignment!r}; choose another folder, or pass --force to grade "
                          f"{assignment} into it (its grades.csv and report.html are replaced)")


def resolve_secret(secret: str | None, out_dir: Path) -> str:
    """--secret, else $DLGRADE_SECRET, else a secret kept in the output folder, so that a
    regrade into the same folder derives the same hidden inputs."""
    if secret:
        return secret
    if os.environ.get("DLGRADE_SECRET"):
        return os.environ["DLGRADE_SECRET"]
    path = out_dir / ".secret"
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
        path.unlink()  # written by a version that could leave it empty
    out_dir.mkdir(parents=True, exist_ok=True)
    value = _secrets.token_hex(16)
    # Write a private temporary file, then link it into place: the secret file appears
    # complete or not at all, even if the run is killed here; a concurrent run keeps its.
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".secret.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text().strip()
    finally:
        os.unlink(tmp)
    return value
