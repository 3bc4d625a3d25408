"""`dlgrade build` as a library call: the stub and fixtures regenerated from the reference."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from grader.authoring import build, fixtures, stubgen
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
        assert fixtures.difference(p, committed) is None  # deterministic


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


def _rewrite(src, dst, **change):
    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(change)
    with open(dst, "wb") as f:
        np.savez_compressed(f, **arrays)


def test_a_fixture_rebuilt_on_another_cpu_is_current_and_a_changed_one_is_stale(tmp_path):
    """Rebuilt on a CPU whose BLAS sums in another order, the reference's float64 outputs
    move by an ulp or so: not stale. A changed draw, or an expected value moved by what a
    change of the reference would move it, is."""
    committed = ROOT / "assignments" / "backprop" / "fixtures" / "linear_public.npz"
    with np.load(committed) as f:
        meta = json.loads(f["__meta__"].tobytes())
        draw = meta["groups"][1][0]["value"]["t"]
        expect = next(e["value"]["tuple"][0]["t"] for e in meta["groups"][1]
                      if e["kind"] == "expect")
        d, e = f[draw], f[expect]
    other = tmp_path / "other.npz"
    _rewrite(committed, other, **{expect: e + np.spacing(e) * 4})
    assert fixtures.difference(other, committed) is None
    _rewrite(committed, other, **{expect: e + 1e-9})
    assert "an expected value moved by 1e-09" in fixtures.difference(other, committed)
    _rewrite(committed, other, **{draw: d + np.spacing(d)})
    assert fixtures.difference(other, committed) == f"{draw} (draw) changed"
    _rewrite(committed, other, **{expect: e.astype(np.float32)})
    assert "float32" in fixtures.difference(other, committed)
