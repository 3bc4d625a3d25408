"""`dlgrade new NAME`: the files of a new assignment, from templates.

`scaffold(name, root)` writes a complete, working assignment around one sample function
pair (`scale_forward` / `scale_backward`: out = x * w with a per-feature weight):

    assignments/<name>/assignment.yaml    the spec (functions, tolerances, tests)
    assignments/<name>/public_tests.py    one public test
    assignments/<name>/README.md          the handout skeleton
    reference/<name>/<name>.py            the solution, with # BEGIN/END SOLUTION markers
    reference/<name>/hidden_tests.py      one hidden test
    reference/<name>/mutants/*.yaml       one mutant (a realistic bug in the sample)
    reference/<name>/variants/*.py        one correct variant

`dlgrade list`, `check`, `grade` and `build` work on it at once (an assignment is any
folder under assignments/ holding an assignment.yaml; nothing else registers it). The
stub and the public fixtures are generated, not written here: the CLI runs the same build
as `dlgrade build` right after. Every placeholder an author must replace carries the
marker PLACEHOLDER, and `dlgrade release` (grader.authoring.verify) refuses the
assignment with one line per file still holding one, and while it has fewer mutants than
verify.MIN_MUTANTS.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import sys
from pathlib import Path
from string import Template

PLACEHOLDER = "TODO(dlgrade new)"
"""Marks every line of the templates an author must replace (verify looks for it)."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ScaffoldError(ValueError):
    """The name is unusable or its folders already exist."""


def check_name(name: str, root: Path) -> None:
    """Refuse names the spec would refuse, names that would shadow a module the grader or
    a submission imports (a student file `torch.py` would replace torch in the worker),
    and names whose folders exist."""
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(f"assignment name: expected a lower-case Python identifier "
                            f"(letters, digits, _; e.g. 'batchnorm'), got {name!r}")
    if name in sys.stdlib_module_names or name in sys.builtin_module_names \
            or importlib.util.find_spec(name) is not None:
        raise ScaffoldError(f"assignment name: {name!r} is the name of an installed Python "
                            "module, which the student's file would shadow; choose another")
    for folder in ("assignments", "reference"):
        if (root / folder / name).exists():
            raise ScaffoldError(f"{root / folder / name} already exists; choose another name "
                                "or remove it")


def scaffold(name: str, root: Path) -> list[Path]:
    """Write the new assignment's source files under `root`; returns their paths."""
    root = Path(root)
    check_name(name, root)
    files = {
        f"assignments/{name}/assignment.yaml": SPEC,
        f"assignments/{name}/public_tests.py": PUBLIC_TESTS,
        f"assignments/{name}/README.md": HANDOUT,
        f"reference/{name}/{name}.py": REFERENCE,
        f"reference/{name}/hidden_tests.py": HIDDEN_TESTS,
        f"reference/{name}/mutants/dw_summed_over_features.yaml": MUTANT,
        f"reference/{name}/variants/correct_einsum.py": VARIANT,
    }
    written = []
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(name=name, marker=PLACEHOLDER),
                        encoding="utf-8")
        written.append(path)
    (root / "assignments" / name / "fixtures").mkdir(exist_ok=True)
    return written


# ---------------------------------------------------------------------------- templates
# $name is the assignment (= module) name, $marker the placeholder marker; `$$` is a `$`.

SPEC = """\
# The spec of $name: the one place that says each test's id, points, visibility, the
# functions it calls and (performance tests) its sizes and limits. docs/authoring.md
# explains every key. The lines marked TODO are placeholders: `dlgrade release $name`
# refuses the assignment while any is left.
name: $name
title: "$marker: the title students see"
module: $name
version: 1
timeout: 10

# The student API: each function's output names, in order ("cache" stays in the worker).
functions:
  scale_forward: [out, cache]
  scale_backward: [dx, dw]

# Library ops that would do the work for the student: fnmatch patterns on dispatched aten
# op names and on resolved dotted Python names (autograd is always forbidden).
forbidden:
  aten: []
  python: []

# out = x * w rounds once (1 ulp); dw = sum over N of dout * x is a length-N dot product,
# off by at most N * eps of the sum of |terms|: with N <= 16, 16 * 1.2e-7 = 2e-6 in
# float32. atol_scaled = 1e-5 of the largest |expected| covers it with a 5x margin and
# covers entries that cancel to ~0; float64 (eps 2.2e-16): 1e-12 leaves room for any
# summation order. A real bug is off by O(1).
tolerances:
  float32: {rtol: 1.0e-5, atol_scaled: 1.0e-5}
  float64: {rtol: 1.0e-12, atol_scaled: 1.0e-12}

tests:
  # The id is the name of the test function (public_tests.py for public tests,
  # reference/$name/hidden_tests.py for hidden ones); `kind` defaults to compare, and to
  # performance for ids starting perf_.
  - id: scale_public
    points: 1
    visibility: public
    functions: [scale_forward, scale_backward]
    description: scale forward and backward on two small shapes
  - id: scale
    points: 2
    visibility: hidden
    functions: [scale_forward, scale_backward]
    description: scale forward and backward, several shapes, N = 1, both dtypes
"""

PUBLIC_TESTS = '''\
"""Public tests for $name: the same checks as the hidden ones, on fewer cases.

Run them with `dlgrade check $name` (inputs and expected values come from fixtures/).
$marker: replace the sample test with the assignment's own.
"""

import torch

from grader.testing import dtype_name


def scale_public(t):
    for dtype, (N, D) in [(torch.float64, (4, 3)), (torch.float32, (2, 5))]:
        with t.case(f"{dtype_name(dtype)} N={N} D={D}"):
            x = t.randn(N, D, dtype=dtype)
            w = t.randn(D, dtype=dtype)
            fw = t.run("scale_forward", x, w)                          # compares out
            t.run("scale_backward", t.randn(N, D, dtype=dtype), fw.cache)  # dx, dw
'''

HANDOUT = """\
# $name

$marker: the handout. Say what students implement and why, with the math in the lecture
notes' notation (../shared/lectures/), in your own words.

## What to implement

In `$name.py`:

- `scale_forward(x, w) -> (out, cache)`: $marker, one line per function: shapes and
  meaning.
- `scale_backward(dout, cache) -> (dx, dw)`.

## The math

$marker: forward and backward, with the shapes.

## Rules

- Autograd is not allowed, and neither are the library ops that do the work for you.
- Inputs must not be modified in place; outputs have the inputs' device and dtype.

## Checking your work

```
dlgrade check $name            # the public tests on ./$name.py
```

Hidden tests use other inputs (other sizes, float32 and float64, edge cases): passing the
public tests is necessary, not sufficient.
"""

REFERENCE = '''\
"""$marker: one paragraph on the assignment, and the shape letters used below.

Shapes: N batch, D features.
"""

import torch  # noqa: F401 (the stub does not use it yet; your solution will)


def scale_forward(x, w):
    """A per-feature scale: out = x * w (w broadcast over the batch).

    Args:
        x: (N, D) inputs.  w: (D,) weights.
    Returns:
        out: (N, D).  cache: whatever scale_backward needs.
    """
    # BEGIN SOLUTION
    # HINT: one broadcast product; keep what the backward pass needs.
    out = x * w  # (N, D)
    return out, (x, w)
    # END SOLUTION


def scale_backward(dout, cache):
    """The backward pass of scale_forward:

        dx = dout * w,      dw = sum over the batch of dout * x.

    Args:
        dout: (N, D) upstream gradient.  cache: from scale_forward.
    Returns:
        dx: (N, D).  dw: (D,).
    """
    # BEGIN SOLUTION
    # HINT: w was broadcast over the batch, so its gradient sums over the batch.
    x, w = cache
    dx = dout * w  # (N, D)
    dw = (dout * x).sum(dim=0)  # (D,)
    return dx, dw
    # END SOLUTION
'''

HIDDEN_TESTS = '''\
"""Hidden tests for $name. Inputs come from the per-submission seed; expected values from
the live reference in float64. $marker: replace the sample test with the assignment's own.
"""

import torch

from grader.testing import dtype_name

DTYPES = (torch.float32, torch.float64)
# Distinct sizes per dimension, N = 1.
SHAPES = [(4, 7), (1, 5), (9, 2), (16, 3)]


def scale(t):
    for dtype in DTYPES:
        for N, D in SHAPES:
            with t.case(f"{dtype_name(dtype)} N={N} D={D}"):
                x = t.randn(N, D, dtype=dtype)
                w = t.randn(D, dtype=dtype)
                fw = t.run("scale_forward", x, w)
                t.run("scale_backward", t.randn(N, D, dtype=dtype), fw.cache)
'''

MUTANT = """\
# $marker: a sample bug of the sample function. Write one file per realistic student bug
# (at least 8): each must lose points in every test it names.
description: dw summed over the features instead of the batch
tests: [scale_public, scale]
replace:
  - old: "dw = (dout * x).sum(dim=0)  # (D,)"
    new: "dw = (dout * x).sum(dim=1)  # (D,)"
"""

VARIANT = '''\
"""$marker: another legitimate way to write the solution (must score 100%).
The sample: dw as an einsum."""

import torch


def scale_forward(x, w):
    return x * w, (x, w)


def scale_backward(dout, cache):
    x, w = cache
    return dout * w, torch.einsum("nd,nd->d", dout, x)
'''
