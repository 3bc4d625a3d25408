"""`ast.parse` for a grader that parses in several threads at once.

CPython 3.11 keeps the AST constructor's recursion depth in per-interpreter state and
leaves it off after an error (python/cpython#106905); two threads building trees at once
can then see each other's depth. Graded with `--jobs 2` beside the adversarial class
(whose files fail to parse in every way they can), a correct control was once not graded:
"SystemError: AST constructor recursion depth mismatch (before=30, after=36)". Parsing
takes milliseconds, so every parse in the grader takes one lock and none overlap.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>", mode: str = "exec") -> ast.AST:
    """`ast.parse`, never concurrently with another parse in this process."""
    with _LOCK:
        return ast.parse(source, filename, mode)
