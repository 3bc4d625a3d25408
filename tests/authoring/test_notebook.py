"""Notebooks: extracting a student's code, the handout's notebook pieces, in-notebook checks."""

from __future__ import annotations

import nbformat
import pytest

from grader import notebook_check
from grader.authoring import handout
from grader.classroom import notebook
from grader.engine import grading
from tests.conftest import ROOT, suite

NAME = "backprop"


def _nb(*cells) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(c[3:]) if c.startswith("md:")
                else nbformat.v4.new_code_cell(c) for c in cells]
    return nbformat.writes(nb)


def test_extract_keeps_definitions_and_drops_calls_checks_and_magics():
    code = notebook.extract_code(_nb(
        "md:# Title",
        "%pip install otter-grader\n!ls\nimport otter\ngrader = otter.Notebook()",
        "import torch\nfrom math import sqrt\nEPS = 1e-12\nSHAPE = (2, 3)",
        "@torch.no_grad()\ndef f(x):\n    return x * EPS\n\nprint(f(torch.ones(2)))",
        "class Helper:\n    pass",
        "grader.check('linear_public')",
        "W = torch.randn(3, 3)  # a call: dropped",
    ))
    compile(code, "extracted", "exec")
    assert "import torch" in code and "from math import sqrt" in code
    assert "EPS = 1e-12" in code and "SHAPE = (2, 3)" in code
    assert "@torch.no_grad()\ndef f(x):" in code and "class Helper:" in code
    for gone in ("otter", "print(", "grader.check", "pip", "!ls", "randn"):
        assert gone not in code, gone


def test_extract_keeps_a_broken_cell_whole_so_the_student_sees_the_error():
    code = notebook.extract_code(_nb("def f(:\n    pass", "def g():\n    return 1"))
    assert "def f(:" in code and "(does not parse)" in code


def test_history_skips_broken_cells_and_later_definitions_win():
    code = notebook.code_from_cells([("In [1]", "def f():\n    return 1"),
                                     ("In [2]", "def g(:"),
                                     ("In [3]", "def f():\n    return 2")],
                                    keep_unparseable=False)
    ns: dict = {}
    exec(compile(code, "m", "exec"), ns)
    assert ns["f"]() == 2 and "def g(" not in code


def test_a_format_4_5_notebook_without_cell_ids_reads_without_a_warning():
    """Some tools write format 4.5 without the cell ids it requires; nbformat warned into
    the TA's run (and says it will refuse such files)."""
    import json
    import warnings

    cells = [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
              "source": "def f():\n    return 1\n"},
             {"cell_type": "markdown", "metadata": {}, "source": "# notes"}]
    text = json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = notebook.extract_code(text)
        older = notebook.extract_code(text.replace('"nbformat_minor": 5', '"nbformat_minor": 4'))
    assert "def f():" in code and code == older


def test_not_a_notebook():
    with pytest.raises(notebook.NotebookError):
        notebook.extract_code("this is not json")


def test_readme_sections_ignore_headings_in_code_fences():
    text = "# T\n\nintro\n\n## A\n\na\n\n```\n## not a heading\n```\n\n## B\n\nb\n"
    sections = handout.readme_sections(text)
    assert [s.splitlines()[0] for s in sections] == ["# T", "## A", "## B"]
    assert "## not a heading" in sections[1]


def test_split_stub_units_and_preamble():
    stub = (ROOT / "assignments" / NAME / f"{NAME}.py").read_text()
    parts = handout.split_stub(stub)
    a = suite(NAME).assignment
    assert [u.name for u in parts.units] == list(a.functions)
    assert parts.preamble == "import torch"
    assert parts.docstring.startswith("Backpropagation by hand")
    # the pieces are the whole stub: cells run top to bottom define the same module
    ns: dict = {}
    exec(parts.preamble + "\n\n" + "\n\n".join(u.source for u in parts.units), ns)
    assert all(callable(ns[f]) for f in a.functions)


def test_run_public_test_on_a_plain_namespace():
    """Outside IPython the helper recovers the functions with inspect: the reference module's
    namespace passes, a module whose linear layer is wrong fails with the details."""
    s = suite(NAME)
    directory = s.assignment.directory
    ref = grading.load_module(ROOT / "reference" / NAME / f"{NAME}.py", "_nbcheck_ref")
    r = notebook_check.run_public_test(NAME, "linear_public", vars(ref), directory=directory)
    assert r.passed and str(r) == "linear_public: passed"
    stub = grading.load_module(directory / f"{NAME}.py", "_nbcheck_stub")
    r = notebook_check.run_public_test(NAME, "mlp_public", vars(stub), directory=directory)
    assert r.not_attempted and str(r).startswith("mlp_public: not attempted: write mlp_loss")
    history = {"_ih": ["", "import torch",
                       (ROOT / "reference" / NAME / f"{NAME}.py").read_text()
                       .replace("db = dout.sum(dim=0)", "db = dout.mean(dim=0)"),
                       "grader.check('linear_public')"]}
    r = notebook_check.run_public_test(NAME, "linear_public", history, directory=directory)
    assert not r.passed and not r.not_attempted
    text = str(r)
    assert text.startswith("linear_public: FAILED (0/1 points)") and "db" in text, text
    with pytest.raises(LookupError):
        notebook_check.run_public_test(NAME, "linear", vars(ref), directory=directory)


def test_pooling_notebook_checks_its_public_performance_tests():
    """Every public test gets a check cell, performance tests included (pooling's two
    native-speed tests are 2 of its 6 public points)."""
    a = suite("pooling").assignment
    readme = (a.directory / "README.md").read_text()
    nb = handout.build_notebook(a, readme, (a.directory / "pooling.py").read_text(),
                                install_cmd="pip install dlgrade-0.1.0-py3-none-any.whl")
    checks = [c.metadata["dlgrade"]["test"] for c in nb.cells
              if "check" in c.metadata.get("tags", [])]
    public = [t for t in a.tests if t.visibility == "public"]
    assert checks == [t.id for t in public]
    assert {"perf_maxpool_native", "perf_avgpool_native"} <= set(checks)
    assert sum(t.points for t in public if t.id in checks) == 6
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source.endswith("%pip install -q dlgrade-0.1.0-py3-none-any.whl")


def test_checker_machinery_is_not_part_of_a_graded_notebook():
    cells = [("c1", "from grader.notebook_check import Checker\n\n"
                    "dlgrade = Checker('backprop', globals())"),
             ("c2", "import torch\ndef f(x):\n    return x"), ("c3", "dlgrade.check('x')")]
    code = notebook.code_from_cells(cells)
    assert "grader" not in code and "Checker" not in code and "def f(x)" in code
