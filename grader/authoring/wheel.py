"""The student's copy of the checker: a wheel of the `dlgrade` package, shipped in the
student zip, so that `pip install dlgrade-<version>-py3-none-any.whl` gives a student
`dlgrade check` and the notebook's checks with nothing but PyTorch installed.

It is built by pip from a clean copy of `grader/` (plus pyproject.toml and README.md),
never from the checkout itself: the checkout holds reference/ (solutions, hidden tests,
mutants) next to grader/, and a build in place could pick up stale build/ or egg-info
folders. After the build the wheel is opened and every entry checked (`audit`): only the
`grader` package and its metadata, nothing from reference/ or assignments/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import grader

PACKAGE_DIR = Path(grader.__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent
"""The checkout grader/ lives in: pyproject.toml and README.md are read from here."""
# Fixed entry dates (the `wheel` package honours SOURCE_DATE_EPOCH): two releases of the
# same code ship byte-identical wheels. 2020-01-01.
_EPOCH = "1577836800"
# Words that must never appear in a wheel entry's path.
_FORBIDDEN_PARTS = ("reference", "hidden_tests.py", "mutants", "variants", "assignments")


class WheelError(Exception):
    """The wheel could not be built, or holds something it must not."""


def build(dest: Path) -> Path:
    """Build the student wheel into folder `dest`; returns its path."""
    pyproject = SOURCE_ROOT / "pyproject.toml"
    if not pyproject.is_file():
        raise WheelError(f"{pyproject}: not found; the student wheel is built from a "
                         "checkout of dlgrade (pip install -e .), not from an installed copy")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dlgrade-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        shutil.copytree(PACKAGE_DIR, src / "grader",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
        shutil.copy2(pyproject, src / "pyproject.toml")
        readme = SOURCE_ROOT / "README.md"
        if readme.is_file():
            shutil.copy2(readme, src / "README.md")
        out = Path(tmp) / "out"
        # --no-build-isolation: use this environment's setuptools, no download; --no-deps:
        # the wheel alone (its requirements are installed on the student's machine).
        cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
               "--no-build-isolation", "--wheel-dir", str(out), str(src)]
        p = subprocess.run(cmd, capture_output=True, text=True,
                           env=dict(os.environ, SOURCE_DATE_EPOCH=_EPOCH))
        built = sorted(out.glob("dlgrade-*.whl")) if out.is_dir() else []
        if p.returncode != 0 or len(built) != 1:
            tail = (p.stderr or p.stdout).strip().splitlines()[-5:]
            raise WheelError(f"pip wheel failed (exit {p.returncode}): " + " | ".join(tail))
        audit(built[0])
        target = dest / built[0].name
        shutil.move(built[0], target)
    return target


def audit(path: Path) -> list[str]:
    """The wheel's entries; WheelError when one is not the grader package or its metadata."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    bad = []
    for name in names:
        p = PurePosixPath(name)
        top = p.parts[0]
        if not (top == "grader" or (top.startswith("dlgrade-") and top.endswith(".dist-info"))):
            bad.append(name)
        elif any(part in _FORBIDDEN_PARTS or part.startswith("hidden")
                 for part in p.parts[1:]):
            bad.append(name)
    if bad:
        raise WheelError(f"{path.name} holds entries a student must not get: "
                         + ", ".join(bad[:5]))
    if "grader/cli.py" not in names:
        raise WheelError(f"{path.name} has no grader/cli.py; expected the whole package")
    return names
