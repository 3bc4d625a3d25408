"""The `dlgrade` command end to end: real processes, real folders."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

ALICE = ROOT / "examples" / "backprop-class" / "alice" / "backprop.py"


def dlgrade(*args, cwd=None, env_extra=None, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd or ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def lost_points(folder) -> str:
    """What a submission's results.json says it lost (for an assertion's message: a
    correct solution that loses a point must say where, in CI's log)."""
    res = json.loads((folder / "results.json").read_text())
    return "; ".join(f"{t['name']}: {t['score']}/{t['max_score']}: {t['output']}"
                     for t in res["tests"] if t["score"] < t["max_score"]) or "nothing"


BROKEN = {
    "syntax_error.py": "import torch\ndef linear_forward(x, w, b)\n    return x\n",
    "import_raises.py": "import torch\nraise RuntimeError('boom at import')\n",
    "infinite_loop.py": "while True:\n    pass\n",
    "sys_exit.py": "import sys\nsys.exit(0)\n",
    # Gains nothing: comparisons happen in the grader's process, not the student's.
    "patch_allclose.py": (
        "import numpy, torch\n"
        "torch.allclose = lambda *a, **k: True\n"
        "numpy.allclose = lambda *a, **k: True\n"
        "torch.Tensor.__eq__ = lambda self, other: True\n"
        "def linear_forward(x, w, b):\n    return torch.zeros(x.shape[0], w.shape[1]), None\n"
        "def linear_backward(dout, cache):\n    return None, None, None\n"
    ),
}


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    subs = tmp_path_factory.mktemp("subs")
    (subs / "correct").mkdir()
    shutil.copy(ALICE, subs / "correct" / "backprop.py")
    for name, text in BROKEN.items():
        (subs / name).write_text(text)
    out = tmp_path_factory.mktemp("out")
    proc = dlgrade("grade", "backprop", subs, "--out", out, "--secret", "s3", "--timeout", "3")
    with open(out / "grades.csv") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    return proc, rows, out


@pytest.mark.slow
def test_broken_submissions_each_get_a_row_and_the_run_exits_0(class_run):
    proc, rows, out = class_run
    assert proc.returncode == 0, proc.stderr
    assert set(rows) == {"correct", *(n[:-3] for n in BROKEN)}
    assert float(rows["correct"]["score"]) == float(rows["correct"]["max_score"]) == 21, \
        lost_points(out / "correct")
    expected_status = {"syntax_error": "error", "import_raises": "error",
                       "infinite_loop": "timeout", "sys_exit": "error"}
    for sid, status in expected_status.items():
        assert rows[sid]["status"] == status, sid
        assert float(rows[sid]["score"]) == 0, sid
    reasons = {sid: json.loads((out / sid / "results.json").read_text())["output"]
               for sid in expected_status}
    assert "syntax error" in reasons["syntax_error"] and "line 2" in reasons["syntax_error"]
    assert "RuntimeError: boom at import" in reasons["import_raises"]
    assert "did not finish" in reasons["infinite_loop"]
    assert "SystemExit" in reasons["sys_exit"]


def test_patching_allclose_gains_nothing(class_run):
    _, rows, _ = class_run
    assert float(rows["patch_allclose"]["score"]) == 0


def test_csv_columns_and_results_schema(class_run):
    _, rows, out = class_run
    header = next(csv.reader(open(out / "grades.csv")))
    assert header[:4] == ["submission", "score", "max_score", "status"]
    assert "linear_public" in header and "mlp" in header
    res = json.loads((out / "correct" / "results.json").read_text())
    assert res["score"] == 21, lost_points(out / "correct")
    assert isinstance(res["execution_time"], float)
    assert res["seed"] and res["sandbox"]
    for t in res["tests"]:
        assert set(t) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert t["status"] == "passed"
    assert (out / "correct" / "feedback.txt").read_text().startswith("Backpropagation")


def test_hidden_feedback_has_no_values(class_run):
    _, _, out = class_run
    res = json.loads((out / "patch_allclose" / "results.json").read_text())
    hidden = [t for t in res["tests"] if t["visibility"] != "visible"]
    linear = next(t for t in hidden if t["name"].split(":")[0] == "linear")
    assert "values differ" in linear["output"] or "wrong" in linear["output"]
    assert "expected" not in linear["output"] and "got" not in linear["output"]


def test_regrade_with_the_same_secret_uses_the_same_seed(class_run, tmp_path):
    _, _, out = class_run
    first = json.loads((out / "correct" / "results.json").read_text())["seed"]
    proc = dlgrade("grade", "backprop", ALICE, "--out", tmp_path, "--secret", "s3")
    assert proc.returncode == 0, proc.stderr
    # ALICE's id is its folder's name, "alice": another id, another seed.
    alice = json.loads((tmp_path / "alice" / "results.json").read_text())["seed"]
    assert alice != first
    (tmp_path / "correct").mkdir()
    shutil.copy(ALICE, tmp_path / "correct" / "backprop.py")
    proc = dlgrade("grade", "backprop", tmp_path / "correct", "--out", tmp_path / "o2",
                   "--secret", "s3")
    assert json.loads((tmp_path / "o2" / "correct" / "results.json").read_text())["seed"] == first


def test_unknown_assignment_lists_the_valid_ones(tmp_path):
    proc = dlgrade("grade", "backprp", ALICE, "--out", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "unknown assignment 'backprp'" in proc.stderr and "backprop" in proc.stderr


def test_missing_submission_path(tmp_path):
    proc = dlgrade("grade", "backprop", tmp_path / "nope", "--out", tmp_path / "o")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "submission path not found" in proc.stderr


def test_empty_submissions_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = dlgrade("grade", "backprop", tmp_path / "empty", "--out", tmp_path / "o")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "empty" in proc.stderr


def test_a_malformed_timing_slots_setting_is_refused_before_grading(tmp_path):
    proc = dlgrade("grade", "backprop", ALICE, "--out", tmp_path / "o", "--jobs", "2",
                   env_extra={"DLGRADE_TIMING_SLOTS": "all"})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "DLGRADE_TIMING_SLOTS must be a whole number of 1 or more; got 'all'" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_malformed_spec_gives_file_key_expected_got(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(ROOT / "assignments" / "backprop", root / "assignments" / "backprop")
    spec = root / "assignments" / "backprop" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("points: 3", "points: -2", 1))
    proc = dlgrade("check", "backprop", ALICE, env_extra={"DLGRADE_ROOT": str(root)})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "assignment.yaml: tests[4].points: expected a number >= 0, got -2" in proc.stderr
    spec.write_text("name: [unclosed\n")
    proc = dlgrade("list", env_extra={"DLGRADE_ROOT": str(root)})
    assert "invalid spec" in proc.stdout and "not valid YAML" in proc.stdout


def test_check_exit_status_and_table():
    ok = dlgrade("check", "backprop", ALICE)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "4/4 public tests passed" in ok.stdout
    stub = dlgrade("check", "backprop", ROOT / "assignments" / "backprop" / "backprop.py")
    assert stub.returncode == 1
    assert "not attempted" in stub.stdout
    bob = dlgrade("check", "backprop", ROOT / "examples" / "backprop-class" / "bob")
    assert bob.returncode == 1
    assert "db: 3 of 3 values differ; worst at" in bob.stdout


def test_check_in_the_handout_folder_defaults_to_the_module_file(tmp_path):
    handout = tmp_path / "backprop"
    shutil.copytree(ROOT / "assignments" / "backprop", handout)
    shutil.copy(ALICE, handout / "backprop.py")
    env = {"DLGRADE_ROOT": str(tmp_path / "nowhere")}
    proc = dlgrade("check", "backprop", cwd=handout, env_extra=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_list_and_help():
    proc = dlgrade("list")
    assert proc.returncode == 0 and "backprop" in proc.stdout
    for cmd in ["list", "check", "grade", "build", "release", "calibrate", "bench", "new"]:
        h = dlgrade(cmd, "--help")
        assert h.returncode == 0 and "usage: dlgrade" in h.stdout


def test_every_dlgrade_command_in_the_readme_parses():
    """The README and the parser agree: each `dlgrade ...` line in a code block names a
    real command with real options."""
    import re
    import shlex

    from grader.cli import build_parser

    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```\n(.*?)```", readme, flags=re.S)
    lines = [ln.split("#")[0].strip() for b in blocks for ln in b.splitlines()]
    commands = [shlex.split(ln)[1:] for ln in lines if ln.startswith("dlgrade ")]
    assert len(commands) >= 5
    parser = build_parser()
    for argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"README command does not parse: dlgrade {' '.join(argv)}")


def test_check_says_which_file_when_the_stub_sits_beside_a_filled_notebook(tmp_path):
    import nbformat

    handout = tmp_path / "backprop"
    shutil.copytree(ROOT / "assignments" / "backprop", handout)  # backprop.py: the stub
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(ALICE.read_text())]
    nbformat.write(nb, str(handout / "backprop.ipynb"))
    env = {"DLGRADE_ROOT": str(tmp_path / "nowhere")}
    proc = dlgrade("check", "backprop", cwd=handout, env_extra=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "backprop.ipynb (graded backprop.ipynb; backprop.py is the untouched stub)" \
        in proc.stdout.splitlines()[0], proc.stdout
    shutil.copy(ALICE, handout / "backprop.py")  # both filled: one clear line, exit 2
    proc = dlgrade("check", "backprop", cwd=handout, env_extra=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "backprop.py and backprop.ipynb both hold work" in proc.stderr


def _option_help(command: str, dest: str) -> tuple[str, object]:
    """(help text, parser default) of `dlgrade COMMAND`'s option `dest`."""
    from grader.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    action = next(a for a in sub._actions if a.dest == dest)
    return " ".join((action.help or "").split()), action.default


@pytest.mark.parametrize("command, dest, function, parameter", [
    ("calibrate", "runs", "grader.authoring.calibrate:run", "runs"),
    ("calibrate", "rounds", "grader.authoring.calibrate:run", "rounds"),
    ("bench", "rounds", "grader.authoring.bench:run", "rounds"),
    ("release", "install", "grader.authoring.release:release", "install"),
    ("release", "secret", "grader.authoring.release:release", "secret"),
    ("similarity", "threshold", "grader.classroom.similarity:write", "threshold"),
    ("similarity", "jobs", "grader.classroom.similarity:write", "jobs"),
])
def test_cli_defaults_are_the_library_functions(command, dest, function, parameter):
    """An option whose default belongs to the library is not given a value by the CLI
    (so the function's own default applies), and its help states that same default."""
    import argparse
    import importlib
    import inspect

    module, name = function.split(":")
    default = inspect.signature(getattr(importlib.import_module(module), name)) \
        .parameters[parameter].default
    text, parser_default = _option_help(command, dest)
    assert parser_default is argparse.SUPPRESS, f"{command} --{dest} sets its own default"
    if default is None:
        assert "(default: " in text, text  # described in words: "the spec's", "a fresh one"
    else:
        assert f"(default: {default if not isinstance(default, str) else repr(default)})" \
            in text.replace('"', "'"), (text, default)
