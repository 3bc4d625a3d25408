"""Jupyter notebooks as submissions: the student's code, without the cells that call it.

A released notebook mixes the handout, the student's function cells, and check cells that
run tests. Grading needs the functions only: top-level imports, function and class
definitions, and plain constant assignments. Statements that call things at top level
(check cells, experiments, plots) are dropped, so importing the result is cheap and
side-effect free. IPython magics (`%`, `!`) are removed before parsing.
"""

from __future__ import annotations

import ast
import json

import nbformat

from grader.engine import syntax

KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class NotebookError(ValueError):
    """The file is not a readable Jupyter notebook."""


def _is_plain_assignment(node: ast.stmt) -> bool:
    if not isinstance(node, (ast.Assign, ast.AnnAssign)):
        return False
    return not any(isinstance(n, (ast.Call, ast.Await, ast.Yield)) for n in ast.walk(node))


_CHECK_MODULES = ("otter", "grader.notebook_check")
"""A released notebook's check machinery (dlgrade's checker; otter in older releases)."""


def _is_check_machinery(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in _CHECK_MODULES)


def _is_otter(node: ast.stmt) -> bool:
    """The check machinery of a released notebook is not part of the submission."""
    if isinstance(node, ast.Import):
        return all(_is_check_machinery(a.name) for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return _is_check_machinery(node.module or "")
    return False


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def extract_code(data: bytes | str) -> str:
    """The definitions in a notebook's code cells, as one Python module's source."""
    try:
        raw = json.loads(data.decode("utf-8-sig") if isinstance(data, bytes) else data)
        nb = nbformat.reads(json.dumps(_with_cell_ids(raw)), as_version=4)
    except Exception as e:  # nbformat raises several unrelated types for bad input
        raise NotebookError(f"not a readable Jupyter notebook: {str(e).splitlines()[0][:200]}") \
            from None
    cells = [(f"cell {i + 1}", cell.get("source", "")) for i, cell in enumerate(nb.cells)
             if cell.get("cell_type") == "code"]
    return code_from_cells(cells)


def _with_cell_ids(raw):
    """Format 4.5 gives every cell an id, and some tools write 4.5 without them. Grading
    reads the sources only: such a cell gets an id here, where nbformat would print a
    warning into the TA's run (one that says it will become an error)."""
    if (isinstance(raw, dict) and raw.get("nbformat") == 4
            and isinstance(raw.get("nbformat_minor"), int) and raw["nbformat_minor"] >= 5
            and isinstance(raw.get("cells"), list)):
        for i, cell in enumerate(raw["cells"]):
            if isinstance(cell, dict) and "id" not in cell:
                cell["id"] = f"dlgrade-{i}"
    return raw


def code_from_cells(cells: list[tuple[str, str]], keep_unparseable: bool = True) -> str:
    """The definitions in code cells ((label, source) pairs, in order) as one module.

    A cell that does not parse is kept whole when `keep_unparseable` (a saved notebook: the
    student should see their syntax error, not a missing function) and skipped otherwise
    (an interactive history: that cell raised and defined nothing).
    """
    parts = []
    for label, raw in cells:
        source = _strip_magics(raw)
        try:
            tree = syntax.parse(source)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            # Deeply nested expressions exhaust the parser (MemoryError, RecursionError);
            # the grader's own parse then reports the error for this submission alone.
            if keep_unparseable:
                parts.append(f"# --- {label} (does not parse)\n{source}")
            continue
        lines = source.splitlines()
        kept = []
        for node in tree.body:
            if not (isinstance(node, KEEP) or _is_plain_assignment(node)) or _is_otter(node):
                continue
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            kept.append("\n".join(lines[first - 1:node.end_lineno]))
        if kept:
            parts.append(f"# --- {label}\n" + "\n\n".join(kept))
    return "\n\n\n".join(parts) + "\n"
