"""What a student reads when their code fails: their own file and line (not torch's
internals, not the worker's temporary folder), and what their functions printed, for
public tests only."""

from __future__ import annotations

from tests.conftest import ROOT, grade

REF = (ROOT / "reference" / "backprop" / "backprop.py").read_text()
LINE = "    out = x @ w + b  # (N, M)"
BAD = REF.replace(LINE, "    print('shapes', tuple(x.shape), tuple(w.shape))\n"
                        "    out = torch.matmul(x, w.T) + b  # (N, M)")
assert LINE in REF


def _by_id(r):
    return {t.id: t for t in r.tests}


def test_torch_error_points_at_the_students_line_and_prints_are_shown(zygote):
    r = grade(zygote, "backprop", BAD, performance=False)
    line = BAD.splitlines().index("    out = torch.matmul(x, w.T) + b  # (N, M)") + 1
    out = _by_id(r)["linear_public"].output
    assert f'File "backprop.py", line {line}, in linear_forward: out = torch.matmul' in out, out
    assert "_ops.py" not in out and "dlgrade-w-" not in out and "/tmp" not in out, out
    assert "your code printed (first lines):\n  | shapes (4, 5) (5, 3)" in out, out
    # hidden tests: the kind of failure only, never what the code printed
    for t in r.tests:
        if t.visibility == "hidden":
            assert "printed" not in t.output and "shapes" not in t.output, t.output


def test_prints_are_capped_at_ten_lines(zygote):
    src = REF.replace(LINE, "    for i in range(500):\n        print('line', i)\n" + LINE)
    r = grade(zygote, "backprop", src, performance=False)
    t = _by_id(r)["linear_public"]
    assert t.passed
    assert "  | line 9\n  | ... (" in t.output and "line 10\n" not in t.output, t.output


def test_import_error_names_the_file_not_the_temporary_path(zygote):
    src = "import torch\nopen(__file__ + '.missing')\n" + REF
    r = grade(zygote, "backprop", src, performance=False)
    assert r.status == "error"
    assert "backprop.py.missing" in r.reason and "dlgrade-w-" not in r.reason, r.reason
