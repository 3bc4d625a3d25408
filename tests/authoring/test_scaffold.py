"""`dlgrade new NAME` end to end, in an empty project root: the scaffold works at once
(list, check, grade), `release` refuses it with one line per missing piece, and accepts it
once every placeholder is replaced and there are enough mutants."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys

import pytest

from grader.authoring import scaffold, verify
from tests.conftest import ROOT

NAME = "demo_assignment"


def dlgrade(root, *args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT), DLGRADE_ROOT=str(root))
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=root,
                          env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    proc = dlgrade(root, "new", NAME)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


def test_new_writes_a_working_assignment(project):
    a, r = project / "assignments" / NAME, project / "reference" / NAME
    for path in [a / "assignment.yaml", a / "public_tests.py", a / "README.md", a / f"{NAME}.py",
                 a / "fixtures" / "scale_public.npz", r / f"{NAME}.py", r / "hidden_tests.py",
                 r / "variants" / "correct_einsum.py"]:
        assert path.is_file(), path
    assert len(list((r / "mutants").glob("*.yaml"))) == 1
    assert NAME in dlgrade(project, "list").stdout

    passed = dlgrade(project, "check", NAME, r / f"{NAME}.py")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    stub = dlgrade(project, "check", NAME, a / f"{NAME}.py")
    assert stub.returncode == 1 and "not attempted" in stub.stdout

    out = project / "grades"
    g = dlgrade(project, "grade", NAME, r / f"{NAME}.py", "--out", out)
    assert g.returncode == 0, g.stdout + g.stderr
    rows = list(csv.DictReader(open(out / "grades.csv")))
    assert [(row["score"], row["max_score"]) for row in rows] == [("3", "3")]


def test_release_refuses_until_complete_then_builds(project, tmp_path):
    # Work on a copy: the other test uses the scaffold as written.
    root = tmp_path / "copy"
    shutil.copytree(project, root)
    proc = dlgrade(root, "release", NAME, "--out", tmp_path / "dist")
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    placeholder_files = {"README.md", "assignment.yaml", "public_tests.py", f"{NAME}.py",
                         "hidden_tests.py", "dw_summed_over_features.yaml",
                         "correct_einsum.py"}
    named = {f for f in placeholder_files for ln in errors
             if f"/{f} still holds" in ln and scaffold.PLACEHOLDER in ln}
    assert named == placeholder_files, errors
    assert any(f"1 mutant in reference/{NAME}/mutants/, expected at least "
               f"{verify.MIN_MUTANTS}" in ln for ln in errors), errors
    assert len(errors) == len(placeholder_files) + 1, errors
    assert not (tmp_path / "dist").exists()

    # Complete it: every placeholder replaced, enough mutants (the sample's bug, and the
    # same bug in dx, spelled differently each time).
    for path in list((root / "assignments").rglob("*")) + list((root / "reference").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".yaml", ".md"):
            path.write_text(path.read_text().replace(scaffold.PLACEHOLDER, "Done"))
    mutants = root / "reference" / NAME / "mutants"
    for i in range(1, verify.MIN_MUTANTS):
        (mutants / f"dx_scaled_{i}.yaml").write_text(
            f"description: dx scaled by {i + 1}\ntests: [scale_public, scale]\nreplace:\n"
            f"  - old: \"dx = dout * w  # (N, D)\"\n"
            f"    new: \"dx = {i + 1} * dout * w  # (N, D)\"\n")
    built = dlgrade(root, "build", NAME)  # the reference's docstring changed
    assert built.returncode == 0, built.stderr
    proc = dlgrade(root, "release", NAME, "--out", tmp_path / "dist")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "dist" / f"{NAME}-autograder.zip").is_file()
    assert f"{verify.MIN_MUTANTS}/{verify.MIN_MUTANTS} mutants caught" in proc.stdout


@pytest.mark.parametrize("name,why", [("Bad-Name", "lower-case Python identifier"),
                                      ("class", "lower-case Python identifier"),
                                      ("torch", "installed Python module"),
                                      ("json", "installed Python module")])
def test_unusable_names_are_refused(tmp_path, name, why):
    with pytest.raises(scaffold.ScaffoldError, match=why):
        scaffold.scaffold(name, tmp_path)
    assert not (tmp_path / "assignments").exists()


def test_existing_folders_are_never_overwritten(tmp_path):
    (tmp_path / "reference" / "mine").mkdir(parents=True)
    proc = dlgrade(tmp_path, "new", "mine")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "already exists" in proc.stderr
    assert not (tmp_path / "assignments" / "mine").exists()
