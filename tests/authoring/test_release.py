"""`dlgrade release`: verification, the student handout and notebook, the Gradescope bundle.

One release of backprop (the worked example) is built per test session and inspected by
several tests: the student folder and zip, the notebook executed headless in a Jupyter
kernel (stub: every check "not attempted"; solution pasted in: every check passes), the
Gradescope bundle run in a fake /autograder, and `check`/`grade` on filled-in notebooks.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader import cli
from grader.authoring import gradescope, handout, release, wheel
from tests.conftest import ROOT

NAME = "backprop"
SECRET = "release-test-secret-0123456789abcdef"
GRADESCOPE_STATUSES = {"passed", "failed"}
GRADESCOPE_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "dist"
    rc = cli.main(["release", NAME, "--out", str(out), "--secret", SECRET])
    assert rc == 0
    return out


def _reference_source() -> str:
    return (ROOT / "reference" / NAME / f"{NAME}.py").read_text()


def _solution_cells(nb) -> None:
    """Paste the reference into the notebook: each function's cell gets its solution, and
    the imports cell also gets the reference's module-level helpers (dropped from stubs)."""
    ref = handout.split_stub(_reference_source())
    units = {u.name: u.source for u in ref.units}
    student = {c.metadata["dlgrade"]["function"] for c in nb.cells
               if "student" in c.metadata.get("tags", [])}
    helpers = "\n\n\n".join(src for name, src in units.items() if name not in student)
    for c in nb.cells:
        tags = c.metadata.get("tags", [])
        if "student" in tags:
            c.source = units[c.metadata["dlgrade"]["function"]]
        elif "imports" in tags:
            c.source = ref.preamble + ("\n\n\n" + helpers if helpers else "")


def _env(**extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **extra)
    env.pop("DLGRADE_SECRET", None)
    return env


# ---------------------------------------------------------------------------- layout


def test_student_folder_and_zip(dist):
    folder = dist / NAME
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    public = [t.id for t in handout.public_tests(_assignment())]
    expected = {f"{NAME}.py", "README.md", "assignment.yaml", "public_tests.py",
                f"{NAME}.ipynb", *(f"fixtures/{t}.npz" for t in public), _wheel_name()}
    assert names == expected
    assert (folder / f"{NAME}.py").read_text() == \
        (ROOT / "assignments" / NAME / f"{NAME}.py").read_text()
    with zipfile.ZipFile(dist / f"{NAME}.zip") as z:
        zipped = {n for n in z.namelist() if not n.endswith("/")}
        assert zipped == {f"{NAME}/{n}" for n in names}
        for n in zipped:
            data = z.read(n)
            assert SECRET.encode() not in data, n
            assert b"hidden_tests" not in data or n.endswith(".md"), n
    ref_body = "z = logits - logits.max(dim=1, keepdim=True).values"
    assert ref_body in _reference_source()
    assert not any(ref_body in p.read_text(errors="replace")
                   for p in folder.rglob("*") if p.is_file() and p.suffix not in (".npz",
                                                                                   ".whl"))
    # the student README says how to install the checker, with the wheel beside it
    readme = (folder / "README.md").read_text()
    assert f"    pip install {_wheel_name()}\n" in readme
    assert readme.index("## Installing the checker") < readme.index("## 1.")


def _wheel_name() -> str:
    from grader.cli import version

    return f"dlgrade-{version()}-py3-none-any.whl"


def test_the_wheel_holds_the_grader_package_only(dist):
    """What a student installs: grader/ and its metadata; no reference solution, no hidden
    test, no mutant, nothing of assignments/ (even the public files come in the zip)."""
    path = dist / NAME / _wheel_name()
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        text = b"".join(z.read(n) for n in names if n.endswith(".py"))
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    version = re.search(r"^Version: (\S+)$", meta, re.M).group(1)
    assert {n.split("/")[0] for n in names} == {"grader", f"dlgrade-{version}.dist-info"}
    assert "grader/cli.py" in names and "grader/notebook_check.py" in names
    assert not [n for n in names for part in n.split("/")
                if part in ("reference", "assignments", "mutants", "variants", "fixtures")
                or part.startswith("hidden")]
    # no solution line of any reference (between its SOLUTION markers) and no hidden test
    # function is in the package's source
    for ref in (ROOT / "reference").glob("*/*.py"):
        inside = False
        for line in ref.read_text().splitlines():
            if "# BEGIN SOLUTION" in line or "# END SOLUTION" in line:
                inside = "BEGIN" in line
            elif inside and len(line.strip()) > 40 and not line.strip().startswith("#"):
                assert line.strip().encode() not in text, (ref, line)
    # (docstrings in grader/ show `def linear(t):` as an example: compare whole functions)
    for hidden in (ROOT / "reference").glob("*/hidden_tests.py"):
        source = hidden.read_text()
        bodies = [ast.get_source_segment(source, node) for node in ast.parse(source).body
                  if isinstance(node, ast.FunctionDef)]
        assert bodies and not [b for b in bodies if b.encode() in text], hidden
    assert wheel.audit(path) == names
    # the audit refuses a wheel that carries reference files
    bad = dist.parent / "bad.whl"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as out:
        for n in names:
            out.writestr(n, src.read(n))
        out.writestr(f"reference/{NAME}/{NAME}.py", _reference_source())
    with pytest.raises(wheel.WheelError, match="reference/"):
        wheel.audit(bad)


def _assignment():
    from grader.engine import assignments

    return assignments.load(NAME, ROOT)


def test_notebook_structure(dist):
    nb = nbformat.read(dist / NAME / f"{NAME}.ipynb", as_version=4)
    nbformat.validate(nb)
    a = _assignment()
    student = [c.metadata["dlgrade"]["function"] for c in nb.cells
               if "student" in c.metadata.get("tags", [])]
    assert sorted(student) == sorted(a.functions)  # one cell per student function
    checks = [c.source for c in nb.cells if "check" in c.metadata.get("tags", [])]
    # every public test has a check cell, performance tests included
    assert checks == [f"dlgrade.check({t.id!r})" for t in a.tests if t.visibility == "public"]
    init = next(c.source for c in nb.cells if "check_init" in c.metadata.get("tags", []))
    assert f"dlgrade = Checker({NAME!r}, globals())" in init
    # the first code cell installs the wheel shipped next to the notebook
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "setup" in first.metadata["tags"]
    assert f"\n%pip install -q {_wheel_name()}" in first.source
    # each function cell is the stub's function, docstring included
    stub = (ROOT / "assignments" / NAME / f"{NAME}.py").read_text()
    for c in nb.cells:
        if "student" in c.metadata.get("tags", []):
            assert c.source in stub and '"""' in c.source
    # a function cell comes before the check of every test that calls it
    order = {c.metadata["dlgrade"]["function"]: i for i, c in enumerate(nb.cells)
             if "student" in c.metadata.get("tags", [])}
    for i, c in enumerate(nb.cells):
        if "check" in c.metadata.get("tags", []):
            test = next(t for t in a.tests if t.id == c.metadata["dlgrade"]["test"])
            assert all(order[f] < i for f in test.functions)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert a.title in md and "not attempted" in md


def test_autograder_bundle_contents(dist):
    with zipfile.ZipFile(dist / f"{NAME}-autograder.zip") as z:
        names = set(z.namelist())
        for required in ("setup.sh", "run_autograder", "requirements.txt", "autograder.json",
                         "grader/engine/grading.py", "grader/authoring/gradescope.py",
                         f"assignments/{NAME}/assignment.yaml", f"assignments/{NAME}/{NAME}.py",
                         f"reference/{NAME}/{NAME}.py", f"reference/{NAME}/hidden_tests.py"):
            assert required in names, required
        assert not any("/mutants/" in n or "/variants/" in n or "__pycache__" in n
                       for n in names)
        # the native recorder's source, built by setup.sh for the image, not this machine's
        assert "grader/boundary/native/oprecord.cpp" in names
        assert not any("/_native/" in n or n.endswith(".so") for n in names)
        assert "grader.boundary.oprecord" in z.read("setup.sh").decode()
        for exe in ("setup.sh", "run_autograder"):
            assert stat.S_IMODE(z.getinfo(exe).external_attr >> 16) & 0o111, exe
        config = json.loads(z.read("autograder.json"))
        assert config["secret"] == SECRET and config["assignment"] == NAME
        reqs = z.read("requirements.txt").decode().splitlines()
        assert f"torch=={release.torch_pin()}" in reqs


# ---------------------------------------------------------------------------- the notebook


def test_notebook_runs_headless_stub_then_solution(dist, tmp_path):
    """One kernel: the untouched notebook reports every check "not attempted"; then the
    solution is pasted into the function cells and re-run, and every check passes."""
    from nbclient import NotebookClient

    folder = tmp_path / NAME
    shutil.copytree(dist / NAME, folder)
    nb = nbformat.read(folder / f"{NAME}.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    checks = [c for c in nb.cells if c.metadata.get("tags", []) and
              set(c.metadata["tags"]) & {"check", "check_all"}]
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT)  # the kernel imports this checkout's grader
    try:
        with client.setup_kernel():
            for i, cell in enumerate(nb.cells):
                if "setup" not in cell.metadata.get("tags", []):
                    client.execute_cell(cell, i)
            stub_outputs = {c.source: _text(c) for c in checks}
            _solution_cells(nb)
            for i, cell in enumerate(nb.cells):
                tags = set(cell.metadata.get("tags", []))
                if tags & {"imports", "student", "check", "check_all"}:
                    client.execute_cell(cell, i)
            solution_outputs = {c.source: _text(c) for c in checks}
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    public = [t for t in _assignment().tests if t.visibility == "public"]
    for t in public:
        text = stub_outputs[f"dlgrade.check({t.id!r})"]
        assert text.startswith(f"{t.id}: not attempted: write "), text
        assert "passed" not in text and "ERROR" not in text, text
        # dlgrade's own one-line report, not otter's doctest transcript
        assert solution_outputs[f"dlgrade.check({t.id!r})"] == f"{t.id}: passed"
    assert stub_outputs["dlgrade.check_all()"].count("not attempted") == len(public)
    assert solution_outputs["dlgrade.check_all()"].endswith(
        f"{len(public)}/{len(public)} public tests passed, "
        f"{sum(t.points for t in public):g}/{sum(t.points for t in public):g} points")


def _text(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            out.append(f"ERROR {o.get('ename')}: {o.get('evalue')}")
        out.append(o.get("data", {}).get("text/plain", "") if "data" in o else o.get("text", ""))
    return "\n".join(out)


# ------------------------------------------------------------------ notebooks as submissions


def _filled_notebook(dist, path: Path, solution: bool) -> Path:
    nb = nbformat.read(dist / NAME / f"{NAME}.ipynb", as_version=4)
    if solution:
        _solution_cells(nb)
    nb.cells.append(nbformat.v4.new_code_cell("x = linear_forward(1, 2, 3)  # an experiment"))
    nbformat.write(nb, str(path))
    return path


def test_check_in_the_student_folder_py_and_ipynb(dist, tmp_path, capsys, monkeypatch):
    """`dlgrade check backprop` run inside the handout folder, as a student does: the stub
    (not attempted, exit 1), then the filled-in notebook as the default file (exit 0)."""
    folder = tmp_path / NAME
    shutil.copytree(dist / NAME, folder)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("DLGRADE_ROOT", str(tmp_path / "no-project"))  # only the handout
    assert cli.main(["check", NAME]) == 1
    out = capsys.readouterr().out
    assert "not attempted" in out and f"{NAME}.py" in out
    (folder / f"{NAME}.py").unlink()
    _filled_notebook(dist, folder / f"{NAME}.ipynb", solution=True)
    assert cli.main(["check", NAME]) == 0
    out = capsys.readouterr().out
    assert f"{NAME}.ipynb" in out and "4/4 public tests passed" in out, out


def test_grade_accepts_notebooks(dist, tmp_path):
    students = tmp_path / "class"
    students.mkdir()
    _filled_notebook(dist, students / "alice.ipynb", solution=True)
    _filled_notebook(dist, students / "bob.ipynb", solution=False)
    out = tmp_path / "out"
    assert cli.main(["grade", NAME, str(students), "--out", str(out), "--secret", "s"]) == 0
    alice = json.loads((out / "alice" / "results.json").read_text())
    bob = json.loads((out / "bob" / "results.json").read_text())
    assert alice["score"] == alice["max_score"] > 0
    assert bob["score"] == 0


# ---------------------------------------------------------------------------- Gradescope


def _validate_gradescope(data: dict) -> None:
    assert isinstance(data["score"], (int, float))
    assert isinstance(data["execution_time"], (int, float)) and data["execution_time"] >= 0
    assert isinstance(data["output"], str)
    assert set(data) <= set(gradescope.GRADESCOPE_KEYS) | {"extra_data"}
    for t in data["tests"]:
        assert isinstance(t["name"], str) and t["name"]
        assert isinstance(t["score"], (int, float)) and isinstance(t["max_score"], (int, float))
        assert 0 <= t["score"] <= t["max_score"]
        assert t["status"] in GRADESCOPE_STATUSES
        assert isinstance(t["output"], str)
        assert t["visibility"] in GRADESCOPE_VISIBILITY
        assert set(t) <= set(gradescope.TEST_KEYS)
    assert abs(sum(t["score"] for t in data["tests"]) - data["score"]) < 1e-6


@pytest.fixture
def gs_base():
    """A folder for a fake /autograder, outside /tmp: under the bubblewrap sandbox the
    workers get a private /tmp, which would hide a bundle unpacked under /tmp."""
    parent = Path("/var/tmp") if Path("/var/tmp").is_dir() else None
    base = Path(tempfile.mkdtemp(prefix="dlgrade-gs-", dir=parent))
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _fake_autograder(dist, base: Path) -> Path:
    root = base / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    with zipfile.ZipFile(dist / f"{NAME}-autograder.zip") as z:
        z.extractall(root / "source")
    for f in ("run_autograder", "setup.sh"):
        (root / "source" / f).chmod(0o755)
    (root / "submission_metadata.json").write_text(json.dumps({"id": 4242}))
    # Traversable by anyone, as on Gradescope: only the lock-down keeps the worker out.
    for p in (base, root, root / "submission"):
        p.chmod(0o755)
    return root


def _run_autograder(root: Path) -> dict:
    r = subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root,
                       env=_env(AUTOGRADER_ROOT=str(root), DLGRADE_PYTHON=sys.executable),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_gradescope_autograder_grades_as_unprivileged_user(dist, gs_base):
    root = _fake_autograder(dist, gs_base)
    secret_file = root / "source" / "autograder.json"
    # The submission refuses to work when it runs as root or can read the bundle's secret.
    # It also imports packages the fork server never loaded (a slot uid must reach them).
    spy = ("import os\nimport yaml\nimport matplotlib\n"
           f"if os.getuid() == 0 and {os.geteuid() == 0}:\n"
           "    raise RuntimeError('running as root')\n"
           f"try:\n    open({str(secret_file)!r}).read()\n    LEAK = True\n"
           "except OSError:\n    LEAK = False\n"
           f"if LEAK and {os.geteuid() == 0}:\n    raise RuntimeError('read the secret')\n\n")
    (root / "submission" / f"{NAME}.py").write_text(spy + _reference_source())
    data = _run_autograder(root)
    _validate_gradescope(data)
    a = _assignment()
    assert data["score"] == a.max_score, data["output"]
    assert [t["name"].split(":")[0] for t in data["tests"]] == [t.id for t in a.tests]
    hidden = {t.id for t in a.tests if t.visibility == "hidden"}
    assert all((t["visibility"] == "after_published") == (t["name"].split(":")[0] in hidden)
               for t in data["tests"])
    extra = data["extra_data"]
    if os.geteuid() == 0:  # the spy above proves it; this is what the results record
        assert extra["worker_uid"] in (gradescope.NOBODY, "slot uid (64000+)")
    assert extra["submission"] == "4242"
    assert SECRET not in json.dumps(data)


def test_gradescope_autograder_contains_tampering_threads_and_autograd(dist, gs_base):
    """Issue 14's attacks in the released autograder: a record silenced through computed
    names scores 0 with the reason; forbidden ops in a thread and autograd through computed
    names cost the tests that use them, as in `dlgrade grade`."""
    adv = ROOT / "tests" / "adversarial" / "submissions"
    alice = (ROOT / "examples/backprop-class/alice/backprop.py").read_text()
    body = alice[alice.index("def linear_forward"):]
    marker = "# <a correct solution, inserted by tests/e2e/test_adversarial.py>\n"
    for attack, check in [
        ("tamper_silence_reports", lambda d: d["score"] == 0 and all(
            "run-time checks were tampered with" in t["output"] for t in d["tests"])),
        ("autograd_main_thread", lambda d: d["score"] <= 15 and any(
            "forbidden op torch.autograd" in t["output"] for t in d["tests"])),
    ]:
        root = _fake_autograder(dist, gs_base / attack)
        src = (adv / f"{attack}.py").read_text().replace(marker, body)
        (root / "submission" / f"{NAME}.py").write_text(src)
        data = _run_autograder(root)
        _validate_gradescope(data)
        assert check(data), (attack, data["score"], [t["output"][:200] for t in data["tests"]])


def test_gradescope_autograder_notebook_and_missing_file(dist, gs_base):
    root = _fake_autograder(dist, gs_base)
    # a filled-in notebook, uploaded under another name, with a bug in the linear layer
    nb = nbformat.read(dist / NAME / f"{NAME}.ipynb", as_version=4)
    _solution_cells(nb)
    for c in nb.cells:
        if c.metadata.get("dlgrade", {}).get("function") == "linear_backward":
            c.source = c.source.replace("dout.sum(dim=0)", "dout.mean(dim=0)")
            assert "mean(dim=0)" in c.source
    nbformat.write(nb, str(root / "submission" / "my_backprop.ipynb"))
    data = _run_autograder(root)
    _validate_gradescope(data)
    by_name = {t["name"].split(":")[0]: t for t in data["tests"]}
    assert by_name["linear_public"]["status"] == "failed"
    assert by_name["linear"]["score"] < by_name["linear"]["max_score"]
    assert by_name["mlp"]["status"] == "passed" or by_name["mlp"]["score"] >= 0
    assert 0 < data["score"] < _assignment().max_score
    # nothing usable: a zero with the reason, still a valid results.json
    shutil.rmtree(root / "submission")
    (root / "submission").mkdir()
    (root / "submission" / "notes.txt").write_text("oops")
    data = _run_autograder(root)
    _validate_gradescope(data)
    assert data["score"] == 0
    assert all("submit your backprop.py" in t["output"] for t in data["tests"])


# Issue 14's classes that apply to one submission in its own container (no neighbours):
# attack file -> (its honest score, text no hidden test may show)
GS_ATTACKS = {
    "fcntl_signal_owner": (21, ()),
    "exit_status_from_hidden_input": (11.75, ("exited with status", "HIDDENBYTE", "SIG")),
    "surrogate_message": (14.25, ()),
    "nested_expressions": (0, ()),
    "shared_blob_reply": (14.25, ()),
}


@pytest.mark.slow
@pytest.mark.parametrize("attack", sorted(GS_ATTACKS))
def test_gradescope_autograder_contains_issue14_attacks(dist, gs_base, attack):
    """The released autograder keeps each attack to its honest score and always writes a
    valid results.json (a lone surrogate once crashed writing it; F_SETOWN once killed
    the grader)."""
    root = _fake_autograder(dist, gs_base)
    text = (ROOT / "tests" / "adversarial" / "submissions" / f"{attack}.py").read_text()
    ref = _reference_source()
    marker = "# <a correct solution, inserted by tests/e2e/test_adversarial.py>\n"
    (root / "submission" / f"{NAME}.py").write_text(text.replace(marker, ref))
    data = _run_autograder(root)
    _validate_gradescope(data)
    honest, hidden_absent = GS_ATTACKS[attack]
    assert data["score"] <= honest + 1e-9, data["output"]
    if attack in ("fcntl_signal_owner", "surrogate_message"):
        assert data["score"] == honest, data["output"]
    hidden = json.dumps([t for t in data["tests"] if t["visibility"] != "visible"])
    assert not [s for s in hidden_absent if s in hidden]


def test_find_submission(tmp_path):
    (tmp_path / "sub" / "backprop").mkdir(parents=True)
    (tmp_path / "sub" / "backprop" / "backprop.ipynb").write_text("{}")
    assert gradescope.find_submission(tmp_path / "sub", NAME)[0].name == "backprop.ipynb"
    (tmp_path / "sub" / "backprop.py").write_text("")
    assert gradescope.find_submission(tmp_path / "sub", NAME)[0] == tmp_path / "sub" / "backprop.py"
    # the released folder zipped by a notebook student: the stub beside the notebook
    both = tmp_path / "both" / "backprop"
    both.mkdir(parents=True)
    (both / "backprop.py").write_text((ROOT / "assignments" / NAME / f"{NAME}.py").read_text())
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(_reference_source())]
    nbformat.write(nb, str(both / "backprop.ipynb"))
    assert gradescope.find_submission(tmp_path / "both", NAME)[0] == both
    a = _assignment()
    from grader.classroom import intake

    sub = intake.collect([both], NAME, intake.stub_source(a))[0]
    assert sub.origin == str(both / "backprop.ipynb") and "untouched stub" in sub.note
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.py").write_text("")
    (tmp_path / "other" / "b.py").write_text("")
    path, why = gradescope.find_submission(tmp_path / "other", NAME)
    assert path is None and "a.py" in why and "b.py" in why


# ---------------------------------------------------------------------------- refusal


def test_release_refused_writes_nothing(tmp_path, capsys, monkeypatch):
    """A project copy with a stale stub, a mutant no test catches, a mutant that no
    longer applies, too few mutants and no correct variant: exit 2, one line per problem,
    no output folder."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "assignments" / NAME, root / "assignments" / NAME)
    shutil.copytree(ROOT / "reference" / NAME, root / "reference" / NAME,
                    ignore=shutil.ignore_patterns("mutants", "variants", "__pycache__"))
    stub = root / "assignments" / NAME / f"{NAME}.py"
    stub.write_text(stub.read_text() + "\n# edited by hand\n")
    mutants = root / "reference" / NAME / "mutants"
    mutants.mkdir()
    (mutants / "harmless.yaml").write_text(
        "description: renames a local variable, which changes nothing\n"
        "tests: [linear]\n"
        "replace:\n  - old: 'out = x @ w + b  # (N, M)'\n"
        "    new: \"o = x @ w + b  # (N, M)\\n    out = o\"\n")
    (mutants / "stale.yaml").write_text(
        "description: no longer applies\ntests: [linear]\n"
        "replace:\n  - {old: 'this text is not in the reference', new: 'x'}\n")
    assert "out = x @ w + b  # (N, M)" in (root / "reference" / NAME / f"{NAME}.py").read_text()
    monkeypatch.setenv("DLGRADE_ROOT", str(root))
    out = tmp_path / "dist"
    assert cli.main(["release", NAME, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    problems = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(problems) == 5, err
    assert any(f"the stub {NAME}.py is stale" in p for p in problems)
    assert any("expected at least 8" in p for p in problems)
    assert any("no correct variant" in p for p in problems)
    assert any("mutant harmless" in p and "not caught by linear" in p for p in problems)
    assert any("stale.yaml" in p and "occurs 0 times" in p for p in problems)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dlgrade-release")]
