"""Every parse in the grader goes through grader.engine.syntax, one at a time."""

from __future__ import annotations

import re
import threading

from grader.engine import syntax
from tests.conftest import ROOT


def test_the_grader_parses_only_through_the_lock():
    """CPython 3.11's AST constructor keeps its recursion depth per interpreter
    (python/cpython#106905): a parse that fails in one grading thread can make another
    thread's parse raise SystemError. A bare ast.parse anywhere else reopens that."""
    bare = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "grader").rglob("*.py"))
            if p.name != "syntax.py"
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if re.search(r"\bast\.parse\(|\bcompile\(", line) and "re.compile" not in line]
    assert not bare, bare


def test_parses_in_threads_beside_failing_ones_all_succeed():
    deep = "x = " + "-" * 3500 + "1\n"  # parses, then fails in the AST constructor
    good = (ROOT / "examples" / "backprop-class" / "alice" / "backprop.py").read_text()
    errors: list[str] = []

    def hammer(source, n):
        for _ in range(n):
            try:
                syntax.parse(source)
            except RecursionError:
                pass
            except Exception as e:  # noqa: BLE001 - any other error is the bug
                errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=hammer, args=(deep, 20)),
               threading.Thread(target=hammer, args=(good, 200))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert syntax.parse("a + b", mode="eval").body.op.__class__.__name__ == "Add"
