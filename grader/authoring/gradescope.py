"""The Gradescope autograder: the bundle `dlgrade release` builds, and its entry point.

Gradescope unpacks the bundle into /autograder/source, runs `setup.sh` once when the image
is built, and `run_autograder` per submission, with the student's files in
/autograder/submission; it reads /autograder/results/results.json. The bundle holds
dlgrade's source (grader/), this assignment's folder and its reference (solution and
hidden tests; no mutants or variants), requirements.txt with torch pinned, and
autograder.json with the assignment name and the secret hidden inputs derive from
(generated at release time; it never appears in the student's handout).

Grading uses dlgrade's own sandboxed worker (bubblewrap when it works in the container,
else rlimits); started as root (as on Gradescope), the worker drops to an unprivileged
uid before importing student code (a slot uid under bubblewrap, else 65534, "nobody"),
and the bundle (secret, reference, hidden tests) is made unreadable to it first.

`AUTOGRADER_ROOT` replaces /autograder (tests use a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
import time
import traceback
from pathlib import Path

CONFIG = "autograder.json"
NOBODY = 65534
GRADESCOPE_KEYS = ("score", "execution_time", "output", "output_format", "visibility",
                   "stdout_visibility", "tests", "leaderboard")
TEST_KEYS = ("name", "score", "max_score", "status", "output", "visibility", "extra_data",
             "tags", "number", "name_format", "output_format")

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope image setup for dlgrade ({name}). Runs once, as root, in /autograder/source.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq python3 python3-venv python3-pip bubblewrap g++ >/dev/null
fi
python3 -m venv /opt/dlgrade-venv
/opt/dlgrade-venv/bin/python -m pip install --quiet --upgrade pip
# torch first, from the CPU index: a bare torch requirement would pull GBs of CUDA.
/opt/dlgrade-venv/bin/python -m pip install --quiet --index-url \\
  https://download.pytorch.org/whl/cpu "torch=={torch}"
/opt/dlgrade-venv/bin/python -m pip install --quiet -r requirements.txt
# The native op recorder (grader.boundary.oprecord); without a compiler the workers use
# the slower Python recorders.
PYTHONPATH=. /opt/dlgrade-venv/bin/python -m grader.boundary.oprecord || true
# The workers run as an unprivileged user and must be able to run Python.
chmod -R a+rX /opt/dlgrade-venv grader
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope entry point: grade /autograder/submission into /autograder/results.
# AUTOGRADER_ROOT replaces /autograder; DLGRADE_PYTHON picks the interpreter.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SRC="$ROOT/source"
PY="${DLGRADE_PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x /opt/dlgrade-venv/bin/python ]; then PY=/opt/dlgrade-venv/bin/python; else PY=python3; fi
fi
cd "$SRC"
export PYTHONPATH="$SRC" DLGRADE_ROOT="$SRC"
exec "$PY" -m grader.authoring.gradescope --root "$ROOT"
"""


# ---------------------------------------------------------------------------- the bundle


def requirements(torch_version: str) -> str:
    return (f"torch=={torch_version}\n"
            "numpy>=1.24\npyyaml>=6\nnbformat>=5.9\norjson>=3.9\n")


def _copy_tree(src: Path, dst: Path, skip=("__pycache__",)) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*skip, "*.pyc", ".*"))


def build_bundle(staging: Path, *, name: str, module: str, project_root: Path,
                 secret: str, torch_version: str, uid: int = NOBODY) -> None:
    """Lay out the bundle's files under `staging` (zipped by the caller)."""
    from grader.boundary import sandbox

    package = Path(sandbox.PACKAGE_ROOT) / "grader"
    staging.mkdir(parents=True)
    # Not this machine's build of the native recorder: setup.sh builds one for the image.
    _copy_tree(package, staging / "grader", skip=("__pycache__", "_native"))
    _copy_tree(project_root / "assignments" / name, staging / "assignments" / name)
    _copy_tree(project_root / "reference" / name, staging / "reference" / name,
               skip=("__pycache__", "mutants", "variants"))
    (staging / "setup.sh").write_text(SETUP_SH.format(name=name, torch=torch_version))
    (staging / "run_autograder").write_text(RUN_AUTOGRADER)
    (staging / "requirements.txt").write_text(requirements(torch_version))
    config = {"assignment": name, "module": module, "secret": secret, "uid": uid,
              "device": "cpu", "time_budget": 600}
    (staging / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    for f in ("setup.sh", "run_autograder"):
        (staging / f).chmod(0o755)


# ---------------------------------------------------------------------------- grading


def find_submission(folder: Path, module: str) -> tuple[Path | None, str]:
    """The student's file in Gradescope's submission folder, or why there is none.

    `<module>.py`, else `<module>.ipynb` (at the top or in one subfolder, e.g. an uploaded
    zip of the handout folder), else the only .py or .ipynb file uploaded. When
    `<module>.py` and `<module>.ipynb` lie side by side, their folder (intake.collect
    then grades the one that is not the untouched stub).
    """
    if not folder.is_dir():
        return None, f"no submission folder {folder}"
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
                   and not any(part.startswith((".", "__")) for part in
                               p.relative_to(folder).parts))
    for wanted in (f"{module}.py", f"{module}.ipynb"):
        hits = sorted((p for p in files if p.name == wanted),
                      key=lambda p: len(p.relative_to(folder).parts))
        if hits:
            if hits[0].with_suffix(".ipynb") in files and hits[0].suffix == ".py":
                # the released folder with its notebook filled in, or the other way round:
                # the folder, for intake to tell the untouched stub from the work
                return hits[0].parent, ""
            return hits[0], ""
    code = [p for p in files if p.suffix in (".py", ".ipynb")]
    if len(code) == 1:
        return code[0], ""
    found = ", ".join(str(p.relative_to(folder)) for p in files[:8]) or "nothing"
    return None, (f"submit your {module}.py (or {module}.ipynb); "
                  f"the submission holds: {found}")


def submission_id(root: Path) -> str:
    """Gradescope's submission id (a regrade keeps it, so hidden inputs stay the same)."""
    try:
        meta = json.loads((root / "submission_metadata.json").read_text())
        sid = meta.get("id") or meta.get("submission_id")
        if sid is not None:
            return str(sid)
    except (OSError, ValueError, AttributeError):
        pass
    return "submission"


def gradescope_json(full: dict) -> dict:
    """dlgrade's results.json, with its own top-level fields moved under extra_data."""
    out = {k: full[k] for k in GRADESCOPE_KEYS if k in full}
    out["tests"] = [{k: t[k] for k in TEST_KEYS if k in t} for t in full.get("tests", [])]
    out["extra_data"] = {k: v for k, v in full.items() if k not in GRADESCOPE_KEYS}
    out.setdefault("stdout_visibility", "hidden")
    return out


def _lock_down(source: Path, results: Path) -> None:
    """Make the bundle (secret, reference, hidden tests) readable by root only."""
    for dirpath, _dirs, filenames in os.walk(source):
        os.chmod(dirpath, 0o700)
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                mode = os.stat(p).st_mode
                os.chmod(p, stat.S_IMODE(mode) & 0o700)
    results.mkdir(parents=True, exist_ok=True)
    os.chmod(results, 0o755)


def _write(results: Path, data: dict) -> None:
    from grader.classroom import report

    report.write_atomic(results / "results.json", json.dumps(data, indent=2) + "\n")


def grade(root: Path) -> dict:
    """Grade the submission under `root` (Gradescope's layout); return results.json."""
    from grader.boundary import sandbox
    from grader.boundary.session import Zygote
    from grader.classroom import intake, report
    from grader.engine import assignments, grading

    source_dir = root / "source"
    config = json.loads((source_dir / CONFIG).read_text())
    name, module, secret = config["assignment"], config["module"], config["secret"]
    a = assignments.load(name, source_dir)
    suite = grading.load_suite(a, assignments.reference_dir(name, source_dir))
    sid = submission_id(root)
    seed = grading.submission_seed(secret, name, sid)
    path, why = find_submission(root / "submission", module)
    if path is None:
        sub = intake.Submission(sid, str(root / "submission"), error=why)
    else:
        sub = intake.collect([path], module, intake.stub_source(a))[0]
        sub.id = sid
    box, box_note = sandbox.choose(config.get("sandbox", "auto"))
    if box.uids:
        uid, worker_uid = None, f"slot uid ({sandbox.SLOT_UID_BASE}+)"  # leased per worker
    else:
        uid = config.get("uid", NOBODY) if os.geteuid() == 0 else None
        worker_uid = uid
    with Zygote(box) as zygote:
        result = grading.grade_submission(
            suite, sid, sub.source, error=sub.error, zygote=zygote, seed=seed,
            device=config.get("device", "cpu"), uid=uid,
            time_budget=float(config.get("time_budget", 600)), source_digest=sub.digest)
    data = gradescope_json(report.results_json(result))
    data["extra_data"]["file"] = Path(sub.origin).name if path is not None else None
    if sub.note:
        data["extra_data"]["file_note"] = sub.note
    data["extra_data"]["worker_uid"] = worker_uid
    if box_note:
        data["extra_data"]["sandbox_note"] = box_note
    return data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.authoring.gradescope",
                                description="Grade a Gradescope submission with dlgrade.")
    p.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    args = p.parse_args(argv)
    root = Path(args.root)
    results = root / "results"
    start = time.monotonic()
    try:
        if os.geteuid() == 0:
            _lock_down(root / "source", results)
        data = grade(root)
        status = 0
    except Exception as e:  # noqa: BLE001 - whatever broke, Gradescope gets a results.json
        detail = "".join(traceback.format_exception_only(type(e), e)).strip()
        print(traceback.format_exc(), file=sys.stderr)
        data = {"score": 0, "execution_time": round(time.monotonic() - start, 3),
                "output": f"autograder error (not your fault; tell your instructor): {detail}",
                "tests": [], "stdout_visibility": "hidden"}
        status = 1
    results.mkdir(parents=True, exist_ok=True)
    _write(results, data)
    print(data.get("output", ""))
    return status


if __name__ == "__main__":
    sys.exit(main())
