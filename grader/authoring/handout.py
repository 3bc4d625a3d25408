"""The student handout's generated parts: the README's install section and the notebook.

The notebook walks through the handout (one markdown cell per `##` section of README.md).
Its first code cell installs the checker (the dlgrade wheel shipped in the student folder);
the next creates the checker for this notebook:

    from grader.notebook_check import Checker
    dlgrade = Checker("backprop", globals())

Each student function gets its own code cell (the stub's function, docstring and hints
included), followed by a check cell per public test, performance tests included:

    dlgrade.check("linear_public")

which runs that public test on the notebook's own functions (grader.notebook_check) and
shows dlgrade's own short report (passed, or points, FAILED and why), not a doctest
transcript.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import nbformat

from grader.engine import syntax
from grader.engine.spec import Assignment

CHECKER = "dlgrade"
"""The notebook's name for its Checker."""


# ---------------------------------------------------------------------------- the stub


@dataclass
class StubUnit:
    """A top-level function or class of the stub: one notebook cell."""

    name: str
    source: str


@dataclass
class StubParts:
    docstring: str
    preamble: str
    """Imports and every other top-level statement that is not a function or class."""
    units: list[StubUnit]


def split_stub(source: str) -> StubParts:
    tree = syntax.parse(source)
    lines = source.splitlines()
    docstring = ast.get_docstring(tree) or ""
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                            ast.Constant) and docstring:
        body = body[1:]
    preamble, units = [], []
    for node in body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        # Comment lines right above a definition belong to it.
        while first > 1 and lines[first - 2].lstrip().startswith("#"):
            first -= 1
        text = "\n".join(lines[first - 1:node.end_lineno])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            units.append(StubUnit(node.name, text))
        else:
            preamble.append(text)
    joined = "\n".join(preamble)
    # Keep the stub's grouping: a blank line between import groups and the rest.
    return StubParts(docstring, re.sub(r"\n{3,}", "\n\n", joined).strip(), units)


# ---------------------------------------------------------------------------- the handout


def readme_sections(text: str) -> list[str]:
    """README.md split before each `## ` heading (not inside code fences)."""
    sections: list[list[str]] = [[]]
    fence = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        if not fence and line.startswith("## ") and any(s.strip() for s in sections[-1]):
            sections.append([])
        sections[-1].append(line)
    return ["\n".join(s).strip() for s in sections if "\n".join(s).strip()]


def fallback_readme(a: Assignment, stub: StubParts) -> str:
    """A minimal handout for an assignment without README.md: its title, the module
    docstring, and the functions to write (their docstrings are in the stub)."""
    public = [t for t in a.tests if t.visibility == "public" and t.kind != "performance"]
    rows = "\n".join(f"| `{t.id}` | {t.description or ''} | {', '.join(t.functions)} |"
                     for t in public)
    return (f"# {a.title}\n\n{stub.docstring}\n\n## What to implement\n\n"
            f"Write every function of `{a.module}.py`; each docstring gives the shapes and "
            f"the math.\n\n| public test | what | functions |\n|---|---|---|\n{rows}\n\n"
            f"## Checking your work\n\n`dlgrade check {a.name}` runs the public tests on your "
            f"`{a.module}.py` (or `{a.module}.ipynb`).\n")


def public_tests(a: Assignment):
    """The public correctness tests (what the handout's table lists)."""
    return [t for t in a.tests if t.visibility == "public" and t.kind != "performance"]


def checked_tests(a: Assignment):
    """Every public test, performance included: each gets a check cell in the notebook."""
    return [t for t in a.tests if t.visibility == "public"]


def install_command(wheel_name: str | None, install: str | None = None) -> str:
    """What a student runs to install the checker: the wheel shipped in the student
    folder, unless the instructor names another source (`--install`)."""
    if install:
        return f"pip install {install}"
    if not wheel_name:
        raise ValueError("install_command: expected a wheel name or --install arguments")
    return f"pip install {wheel_name}"


def install_section(a: Assignment, command: str) -> str:
    """The student README's setup section (a release inserts it after the introduction)."""
    return (
        "## Installing the checker\n\n"
        "You need Python 3.10 or newer with PyTorch (`pip install torch`; Colab has it). "
        f"Then, once, in this folder:\n\n    {command}\n\n"
        f"In Jupyter, the notebook's first code cell runs this (`%{command}`). On Colab, "
        f"upload `{a.name}.zip` with the Files panel and uncomment that cell's "
        f"`unzip` and `cd` lines first.\n\n"
        f"Then `dlgrade check {a.name}` in this folder runs the public tests on your "
        f"`{a.module}.py` (or `{a.module}.ipynb`, or a `.zip` of either): one row per test, "
        "with its points and why it failed; exit status 0 when all pass. On Linux with "
        "bubblewrap installed your code runs in a sandbox; elsewhere (macOS, Windows, Linux "
        "without it) in a separate process (it is your own code), and the checker says so "
        "once.\n")


def with_install_section(readme: str, section: str) -> str:
    """`readme` with `section` after its first section (the title and introduction)."""
    parts = readme_sections(readme)
    if not parts:
        return section
    return "\n\n".join([parts[0], section.strip(), *parts[1:]]) + "\n"


# ---------------------------------------------------------------------------- the notebook


def _md(text: str, **meta):
    cell = nbformat.v4.new_markdown_cell(text)
    if meta:
        cell.metadata["dlgrade"] = meta
    return cell


def _code(text: str, tags: list[str] | None = None, **meta):
    cell = nbformat.v4.new_code_cell(text)
    if tags:
        cell.metadata["tags"] = tags
    if meta:
        cell.metadata["dlgrade"] = meta
    return cell


def build_notebook(a: Assignment, readme: str, stub_source: str,
                   install_cmd: str = "pip install dlgrade") -> nbformat.NotebookNode:
    """The student notebook for assignment `a` (README.md text and the stub's source);
    `install_cmd` is the pip command its first code cell runs (see install_command)."""
    stub = split_stub(stub_source)
    units = {u.name: u for u in stub.units}
    cells = []
    sections = readme_sections(readme)
    if sections:
        cells.append(_md(sections[0], section=0))
    cells.append(_code(
        "# Installs the checker (dlgrade) into this notebook's Python; run once.\n"
        f"# On Colab: upload {a.name}.zip with the Files panel, then uncomment these two lines.\n"
        f"# !unzip -q -o {a.name}.zip\n"
        f"# %cd {a.name}\n"
        f"%{install_cmd.replace('pip install ', 'pip install -q ', 1)}", tags=["setup"]))
    cells.append(_md(
        "## Using this notebook\n\n"
        f"Write your code in the cells of the functions below (the same functions as "
        f"`{a.module}.py`), run each cell, then run the check cell after it: it runs that "
        "part's public tests on your functions, exactly like "
        f"`dlgrade check {a.name}`, and shows what passes and why. A check of a function "
        "you have not written yet says *not attempted*. Keep each function self-contained "
        "(imports at the top, helper functions in the cells): only imports, definitions and "
        "constants are graded; other statements (experiments, plots, checks) are ignored.\n\n"
        f"Submit this notebook (`{a.module}.ipynb`) or a `{a.module}.py` holding your "
        "functions."))
    cells.append(_code(
        "from grader.notebook_check import Checker\n\n"
        f"{CHECKER} = Checker({a.name!r}, globals())", tags=["check_init"]))
    for i, text in enumerate(sections[1:], start=1):
        cells.append(_md(text, section=i))
    intro = "## Your implementation\n\n"
    if stub.docstring:
        intro += stub.docstring + "\n"
    cells.append(_md(intro))
    if stub.preamble:
        cells.append(_code(stub.preamble, tags=["imports"]))
    placed: set[str] = set()
    for t in checked_tests(a):
        pts = f"{t.points:g} point{'s' if t.points != 1 else ''}"
        desc = f": {t.description}" if t.description else ""
        what = " (performance: your functions timed against PyTorch's)" \
            if t.kind == "performance" else ""
        cells.append(_md(f"### `{t.id}`{desc} ({pts}){what}\n\n"
                         f"Functions: {', '.join(f'`{f}`' for f in t.functions)}.", test=t.id))
        for fn in t.functions:
            if fn in units and fn not in placed:
                cells.append(_code(units[fn].source, tags=["student"], function=fn))
                placed.add(fn)
        cells.append(_code(f"{CHECKER}.check({t.id!r})", tags=["check"], test=t.id))
    rest = [u for u in stub.units if u.name not in placed]
    if rest:
        cells.append(_md("### Other functions\n\nNo public test calls these directly; the "
                         "hidden tests may."))
        for u in rest:
            cells.append(_code(u.source, tags=["student"], function=u.name))
    cells.append(_md("## Before you submit\n\nRun every check once more, from a fresh "
                     "kernel (*Restart & Run All*): the grader sees only what the cells "
                     "define. The hidden tests use other sizes, dtypes and edge cases than "
                     "the public ones."))
    cells.append(_code(f"{CHECKER}.check_all()", tags=["check_all"]))
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["dlgrade"] = {"assignment": a.name, "module": a.module,
                              "version": str(a.version)}
    nbformat.validate(nb)
    return nb
