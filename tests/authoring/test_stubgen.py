"""Stub generation from solution markers: the edge cases an author can run into."""

from __future__ import annotations

import ast
import textwrap

import pytest

from grader.authoring import stubgen


def gen(src: str) -> str:
    return stubgen.generate(textwrap.dedent(src).lstrip("\n"), "ref.py")


def test_function_body_becomes_hints_and_not_implemented():
    stub = gen('''
        def f(x):
            """Doubles x."""
            # BEGIN SOLUTION
            # HINT: multiply by two.
            y = x * 2  # (N,)
            # HINT:   keep the dtype.
            return y
            # END SOLUTION
        ''')
    assert stub == textwrap.dedent('''\
        def f(x):
            """Doubles x."""
            # Hint: multiply by two.
            # Hint:   keep the dtype.
            raise NotImplementedError("f")
        ''')
    assert "x * 2" not in stub and "BEGIN" not in stub


def test_code_outside_the_markers_is_kept_verbatim():
    stub = gen('''
        """Module doc: shapes N, D."""

        import math

        import torch

        EPS = 1e-12


        def f(x, eps=EPS):
            """Doc."""
            x = torch.as_tensor(x)
            # BEGIN SOLUTION
            return x / math.sqrt(eps)
            # END SOLUTION
        ''')
    assert stub.startswith('"""Module doc: shapes N, D."""\n\nimport math\n\nimport torch\n')
    assert "EPS = 1e-12" in stub and "def f(x, eps=EPS):" in stub
    assert "    x = torch.as_tensor(x)\n    raise NotImplementedError(\"f\")\n" in stub


def test_module_level_helper_is_dropped_with_its_decorator():
    stub = gen('''
        import functools

        import torch


        # BEGIN SOLUTION
        @functools.lru_cache
        def _im2col_index(k):
            return torch.arange(k)


        # END SOLUTION
        def conv(x):
            """Doc."""
            # BEGIN SOLUTION
            return _im2col_index(3)
            # END SOLUTION
        ''')
    assert "_im2col_index(" not in stub and "lru_cache" not in stub.split("import")[-1]
    assert "raise NotImplementedError(\"conv\")" in stub
    assert "\n\n\n\n" not in stub  # no pile of blank lines where the helper was
    ast.parse(stub)


def test_decorated_function_keeps_its_decorator_and_signature():
    stub = gen('''
        import torch


        @torch.no_grad()
        def step(w, dw, state=None, *, lr=1e-3):
            """One step."""
            # BEGIN SOLUTION
            return w - lr * dw, state
            # END SOLUTION
        ''')
    assert "@torch.no_grad()\ndef step(w, dw, state=None, *, lr=1e-3):" in stub
    assert 'raise NotImplementedError("step")' in stub


def test_method_and_nested_block_name_the_enclosing_function():
    stub = gen('''
        class Opt:
            def step(self, x):
                if x is None:
                    return None
                # BEGIN SOLUTION
                def inner(y):
                    return y
                return inner(x)
                # END SOLUTION
        ''')
    assert '        raise NotImplementedError("step")' in stub and "inner" not in stub
    assert "if x is None:" in stub


def test_two_blocks_in_one_function():
    stub = gen('''
        def f(x, train):
            if train:
                # BEGIN SOLUTION
                return x * 2
                # END SOLUTION
            # BEGIN SOLUTION
            return x
            # END SOLUTION
        ''')
    assert stub.count('raise NotImplementedError("f")') == 2
    ast.parse(stub)


@pytest.mark.parametrize("src,message", [
    ('''
     def f(x):
         # BEGIN SOLUTION
         # BEGIN SOLUTION
         return x
         # END SOLUTION
         # END SOLUTION
     ''', "ref.py:3: nested BEGIN SOLUTION"),
    ('''
     def f(x):
         # BEGIN SOLUTION
         return x
     ''', "ref.py:2: BEGIN SOLUTION without END SOLUTION"),
    ('''
     def f(x):
         return x
         # END SOLUTION
     ''', "ref.py:3: END SOLUTION without BEGIN SOLUTION"),
    ('''
     def f(x):
         # BEGIN SOLUTION
         return x
     # END SOLUTION
     ''', "ref.py:4: END SOLUTION is indented differently"),
    ('''
     def f(x):
         # BEGIN SOLUTION
         if x:
         # END SOLUTION
             return 1
     ''', "the generated stub does not parse (line 3"),
])
def test_bad_markers_are_errors_naming_the_line(src, message):
    with pytest.raises(stubgen.MarkerError) as e:
        gen(src)
    assert message in str(e.value)


def test_markers_need_their_own_line():
    # A comment that merely mentions the marker is not one.
    stub = gen('''
        def f(x):
            return x  # BEGIN SOLUTION is documented in docs/authoring.md
        ''')
    assert "return x" in stub
