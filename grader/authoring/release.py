"""`dlgrade release`: everything an instructor ships, built from one source of truth.

For each assignment, into DIR:

    <name>/                     the student folder: <module>.py (stub), README.md (handout,
                                with an install section), assignment.yaml, public_tests.py,
                                fixtures/, <module>.ipynb (the notebook) and
                                dlgrade-<version>-py3-none-any.whl (the checker: the grader
                                package only; see grader.authoring.wheel)
    <name>.zip                  that folder, zipped
    <name>-autograder.zip       the Gradescope autograder (see grader.authoring.gradescope)

Every assignment is verified first (grader.authoring.verify); if any check fails the release is
refused with one line per problem and nothing is written. Outputs are built in a staging
folder beside DIR and moved into place at the end, so DIR never holds half a release.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import secrets as _secrets
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.authoring import gradescope, handout, verify, wheel
from grader.boundary.session import Zygote
from grader.engine import assignments, grading

DEFAULT_INSTALL = None
"""The notebook and README install the wheel shipped in the student folder; an instructor
may name other pip arguments instead (`--install`, e.g. their own package index)."""
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


class ReleaseRefused(Exception):
    """Verification failed; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__(f"release refused: {len(problems)} problems")
        self.problems = problems


@dataclass
class Released:
    name: str
    folder: Path
    student_zip: Path
    notebook: Path
    autograder_zip: Path
    summary: list[str] = field(default_factory=list)
    wheel: str = ""
    """File name of the checker's wheel in the student folder."""


def torch_pin() -> str:
    import torch

    return torch.__version__.split("+")[0]


def zip_folder(src: Path, dest: Path, prefix: str = "") -> None:
    """A deterministic zip (sorted entries, fixed dates) of `src`'s contents."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src).as_posix()
            name = f"{prefix}{rel}" if prefix else rel
            if path.is_dir():
                info = zipfile.ZipInfo(name + "/", _ZIP_DATE)
                info.external_attr = (0o40755 << 16) | 0x10
                z.writestr(info, b"")
                continue
            info = zipfile.ZipInfo(name, _ZIP_DATE)
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, path.read_bytes())


def build_student_folder(suite: grading.Suite, dest: Path, install: str | None = None,
                         wheel_path: Path | None = None) -> Path:
    """The handout folder, with the checker's wheel (`wheel_path`) copied in; returns the
    notebook's path. `install`: pip arguments that replace the wheel in the install
    instructions (the wheel still ships)."""
    a = suite.assignment
    public_ids = {t.id for t in a.tests if t.visibility == "public"}

    def ignore(directory, names):
        skip = {n for n in names if n.startswith(".") or n == "__pycache__" or n.endswith(".pyc")}
        if Path(directory).resolve() == (a.directory / "fixtures").resolve():
            skip |= {n for n in names if n.endswith(".npz") and n[:-4] not in public_ids}
        return skip

    shutil.copytree(a.directory, dest, ignore=ignore)
    stub = (a.directory / f"{a.module}.py").read_text(encoding="utf-8")
    readme_path = a.directory / "README.md"
    if readme_path.is_file():
        readme = readme_path.read_text(encoding="utf-8")
    else:
        readme = handout.fallback_readme(a, handout.split_stub(stub))
    wheel_name = None
    if wheel_path is not None:
        if (dest / wheel_path.name).exists():
            raise FileExistsError(f"assignments/{a.name}/{wheel_path.name} exists; that name "
                                  "is reserved for the checker's wheel")
        shutil.copy2(wheel_path, dest / wheel_path.name)
        wheel_name = wheel_path.name
    command = handout.install_command(wheel_name, install)
    (dest / "README.md").write_text(
        handout.with_install_section(readme, handout.install_section(a, command)),
        encoding="utf-8")
    nb = handout.build_notebook(a, readme, stub, install_cmd=command)
    nb_path = dest / f"{a.module}.ipynb"
    nbformat.write(nb, str(nb_path))
    return nb_path


def _check_no_secret(folder: Path, secret: str) -> None:
    """Defence in depth: the handout must never carry the secret."""
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if secret.encode() in data:
            raise RuntimeError(f"{path}: the release secret ended up in the student handout")


VERIFY_JOBS = 2
"""Assignments verified at once, in threads beside one fork server (release of the eight:
4 min 28 s one at a time, on a host where `import torch` took 2.3 s)."""


def release(names: list[str], out_dir: Path, *, root: Path | None = None,
            secret: str | None = None, device: str = "cpu",
            install: str | None = DEFAULT_INSTALL,
            progress: Callable[[str], None] | None = None,
            make_zygote: Callable[[], Zygote] = Zygote,
            progress_bar: bool | None = None) -> list[Released]:
    """Verify, then build the release of each assignment into `out_dir`.

    `progress` gets a line per stage; `progress_bar` (default: when stderr is a terminal)
    shows a bar over every verification step (each mutant and variant graded) and build
    instead, with the stage as its description and `progress` getting warnings only."""
    from tqdm import tqdm

    root = Path(root) if root is not None else assignments.project_root()
    names = list(dict.fromkeys(names))
    suites = []
    for name in names:
        a = assignments.load(name, root)
        suites.append(grading.load_suite(a, assignments.reference_dir(name, root)))

    if progress_bar is None:
        progress_bar = sys.stderr.isatty()
    # Per assignment: "verifying X", its verify steps, "building X"; then the wheel.
    bar = tqdm(total=sum(verify.steps(s) + 2 for s in suites) + 1, disable=not progress_bar,
               file=sys.stderr, unit="step", desc="release", dynamic_ncols=True)
    step_open = [False]

    def say(msg: str) -> None:
        """A stage starts (so the previous one is done), or a warning."""
        if not progress_bar:
            if progress is not None:
                progress(msg)
            return
        if msg.startswith("warning: "):
            bar.write(msg, file=sys.stderr)
            return
        if step_open[0]:
            bar.update(1)
        step_open[0] = True
        bar.set_description(msg)

    try:
        return _release(suites, Path(out_dir), root, secret, device, install, say,
                        make_zygote)
    finally:
        if step_open[0]:
            bar.update(1)
        bar.close()


def _release(suites, out_dir: Path, root: Path, secret, device, install, say,
             make_zygote) -> list[Released]:
    problems: list[str] = []
    checks: dict[str, verify.Verification] = {}

    def check(suite, zygote) -> verify.Verification:
        say(f"verifying {suite.assignment.name}")
        return verify.verify(suite, zygote, device=device,
                             progress=lambda msg: say(f"verifying {msg}"))

    with make_zygote() as zygote, cf.ThreadPoolExecutor(VERIFY_JOBS) as pool:
        # Two assignments at a time: a worker computes while this process compares.
        done = pool.map(lambda s: check(s, zygote), suites)
        for suite, v in zip(suites, done):
            checks[suite.assignment.name] = v
            problems.extend(v.problems)
            for w in v.warnings:
                say(f"warning: {w}")
    if problems:
        raise ReleaseRefused(problems)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dlgrade-release-", dir=out_dir.parent))
    released: list[Released] = []
    try:
        pin = torch_pin()
        say("building the checker's wheel")
        student_wheel = wheel.build(staging / ".wheel")  # WheelError: nothing is written
        for suite in suites:
            a = suite.assignment
            say(f"building {a.name}")
            folder = staging / a.name
            nb = build_student_folder(suite, folder, install, student_wheel)
            bundle_secret = secret or _secrets.token_hex(32)
            _check_no_secret(folder, bundle_secret)
            zip_folder(folder, staging / f"{a.name}.zip", prefix=f"{a.name}/")
            bundle = staging / f".{a.name}-autograder"
            gradescope.build_bundle(bundle, name=a.name, module=a.module, project_root=root,
                                    secret=bundle_secret, torch_version=pin)
            zip_folder(bundle, staging / f"{a.name}-autograder.zip")
            shutil.rmtree(bundle)
            released.append(Released(a.name, out_dir / a.name, out_dir / f"{a.name}.zip",
                                     out_dir / a.name / nb.name,
                                     out_dir / f"{a.name}-autograder.zip",
                                     checks[a.name].summary, student_wheel.name))
        shutil.rmtree(staging / ".wheel")
        out_dir.mkdir(parents=True, exist_ok=True)
        for entry in sorted(staging.iterdir()):
            target = out_dir / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(entry, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return released
