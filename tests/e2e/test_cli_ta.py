"""The command line as a TA and an instructor meet it: one-line refusals that write
nothing, a Gradescope group's rows, the Canvas export, `--version`, help everywhere, and
`check` taking what `grade` takes."""

from __future__ import annotations

import argparse
import csv
import zipfile

import pytest

from grader import cli
from tests.conftest import ROOT
from tests.e2e.test_cli import ALICE, dlgrade, lost_points


def _one_line_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_out_that_is_a_file_is_one_line(tmp_path):
    f = tmp_path / "grades.txt"
    f.write_text("x")
    _one_line_error(dlgrade("grade", "backprop", ALICE, "--out", f), "is a file")
    _one_line_error(dlgrade("grade", "backprop", ALICE, "--out", f / "sub"), "is a file")
    # with job processes: refused before any starts
    _one_line_error(dlgrade("grade", "backprop", ALICE, "--out", f, "--jobs", "2"), "is a file")


def test_out_of_another_assignment_is_refused_unless_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".dlgrade.json").write_text('{"assignment": "pooling"}\n')
    (out / "grades.csv").write_text("pooling's gradebook\n")
    _one_line_error(dlgrade("grade", "backprop", ALICE, "--out", out, "--secret", "s"),
                    "'pooling'", "--force")
    assert (out / "grades.csv").read_text() == "pooling's gradebook\n"
    assert not (out / ".secret").exists() and not (out / "alice").exists()


def test_device_cuda_without_a_gpu_writes_nothing(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    out = tmp_path / "out"
    _one_line_error(dlgrade("grade", "backprop", ALICE, "--out", out, "--device", "cuda"),
                    "--device cuda")
    assert not out.exists()


GS_META = """
submission_1:
  :submitters:
  - :name: Dina Lee
  - :name: Eli Ng
"""


def test_gradescope_group_gets_a_row_per_member_and_canvas_csv(tmp_path):
    export = tmp_path / "export"
    (export / "submission_1").mkdir(parents=True)
    (export / "submission_metadata.yml").write_text(GS_META)
    (export / "submission_1" / "backprop.py").write_text(ALICE.read_text())
    (export / "notes.txt").write_text("not a submission folder")
    out = tmp_path / "out"
    proc = dlgrade("grade", "backprop", export, "--out", out, "--secret", "s", "--lms",
                   "canvas")
    assert proc.returncode == 0, proc.stderr
    with open(out / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["submission"] for r in rows] == ["Dina Lee", "Eli Ng"]
    folder = rows[0]["folder"]
    assert folder == rows[1]["folder"] and (out / folder / "feedback.txt").is_file()
    assert all(float(r["score"]) == 21 for r in rows), lost_points(out / folder)
    with open(out / "canvas.csv") as f:
        canvas = list(csv.reader(f))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                         "backprop"]
    assert [r[0] for r in canvas[2:]] == ["Dina Lee", "Eli Ng"]
    assert "canvas.csv" in proc.stdout


def test_check_accepts_a_zip(tmp_path):
    z = tmp_path / "alice.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(ALICE, "alice/backprop.py")
    proc = dlgrade("check", "backprop", z)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4/4 public tests passed" in proc.stdout


def test_version():
    proc = dlgrade("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"dlgrade {cli.version()}"
    assert cli.version()[0].isdigit()


def test_every_command_and_option_has_help():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    helps = {c.dest: c.help for c in sub._choices_actions}
    for name, p in sub.choices.items():
        if not helps.get(name):
            missing.append(name)
        if not p.description:
            missing.append(f"{name} (description)")
        for action in p._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []
    assert ROOT.is_dir()


def test_grade_refuses_the_plain_sandbox(tmp_path):
    """Plain workers cannot hold a submission's run-time reports to account: a class is
    never graded that way, and nothing is written."""
    from grader import cli

    out = tmp_path / "out"
    sub = tmp_path / "alice.py"
    sub.write_text("x = 1\n")
    assert cli.main(["grade", "backprop", str(sub), "--out", str(out), "--sandbox", "plain"]) == 2
    assert not out.exists()
