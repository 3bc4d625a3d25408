"""`ast.parse` for a grader that parses in several threads at once.

CPython 3.11 keeps the AST constructor's recursion depth in per-interpreter state and
leaves it off after an error (python/cpython#106905); two threads building trees at once
can then see each other's depth. Graded with `--jobs 2` beside the adversarial class
(whose files fail to parse in every way they can), a correct control was once not graded:
"SystemError: AST constructor recursion depth mismatch (before=30, after=36)". Parsing
takes milliseconds, so every parse in the grader takes one lock and none overlap. Importing
torch._dynamo parses too (torch builds ASTs of its own functions): `grading.warm_up` imports
under the same lock (`LOCK`); `make release`, verifying the assignments in threads, once
failed with the mismatch while adam's warm-up imported it.
"""

from __future__ import annotations

import ast
import threading

LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>", mode: str = "exec") -> ast.AST:
    """`ast.parse`, never concurrently with another parse in this process."""
    with LOCK:
        return ast.parse(source, filename, mode)
