"""Student stubs generated from the reference: one source of truth.

In the reference, the solution sits between `# BEGIN SOLUTION` and `# END SOLUTION`
(otter-grader's and nbgrader's convention). Inside a function the block becomes its hint
lines (comments starting `# HINT:`, kept as `# Hint: ...`) and
`raise NotImplementedError("<function>")`; at module level (private helpers) the block is
dropped. Docstrings, signatures and imports stay as written.
"""

from __future__ import annotations

import ast
import re

from grader.engine import syntax

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^(\s*)# END SOLUTION\s*$")
HINT = re.compile(r"^\s*# HINT:\s?(.*)$")


class MarkerError(ValueError):
    """Unbalanced or misplaced solution markers."""


def _enclosing_functions(source: str) -> dict[int, str]:
    """1-based line number -> name of the innermost function containing it."""
    tree = syntax.parse(source)
    owner: dict[int, str] = {}

    def visit(node, current):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for line in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                    owner[line] = child.name
                visit(child, child.name)
            else:
                visit(child, current)

    visit(tree, None)
    return owner


def generate(reference_source: str, filename: str = "reference") -> str:
    """The student stub for a reference source; MarkerError names the line of a bad marker."""
    owner = _enclosing_functions(reference_source)
    lines = reference_source.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = BEGIN.match(lines[i])
        if END.match(lines[i]):
            raise MarkerError(f"{filename}:{i + 1}: END SOLUTION without BEGIN SOLUTION")
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, start = m.group(1), i
        hints = []
        i += 1
        while i < len(lines) and not END.match(lines[i]):
            if BEGIN.match(lines[i]):
                raise MarkerError(f"{filename}:{i + 1}: nested BEGIN SOLUTION")
            h = HINT.match(lines[i])
            if h:
                hints.append(f"{indent}# Hint: {h.group(1)}".rstrip())
            i += 1
        if i == len(lines):
            raise MarkerError(f"{filename}:{start + 1}: BEGIN SOLUTION without END SOLUTION")
        if END.match(lines[i]).group(1) != indent:
            raise MarkerError(f"{filename}:{i + 1}: END SOLUTION is indented differently from "
                              f"its BEGIN SOLUTION (line {start + 1})")
        i += 1  # skip END
        fn = owner.get(start + 1)
        out.extend(hints)
        if fn is not None:
            out.append(f'{indent}raise NotImplementedError("{fn}")')
        elif out and out[-1].strip() == "" and i < len(lines) and lines[i].strip() == "":
            i += 1  # a dropped module-level block leaves one blank line, not two
    text = re.sub(r"\n{4,}", "\n\n\n", "\n".join(out) + "\n")
    try:
        syntax.parse(text)
    except SyntaxError as e:
        raise MarkerError(f"{filename}: the generated stub does not parse (line {e.lineno}: "
                          f"{e.msg}); a solution block must hold whole statements") from None
    return text
