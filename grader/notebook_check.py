"""Public tests from inside a notebook: what a released notebook's check cells call.

A released notebook creates one checker and calls it in its check cells:

    >>> from grader.notebook_check import Checker
    >>> dlgrade = Checker("backprop", globals())
    >>> dlgrade.check("linear_public")
    linear_public: passed

`run_public_test` turns the notebook's code into a module, exactly as grading a submitted
`.ipynb` does (top-level imports, definitions and constants; calls and check cells are
dropped), and runs one public test on it through the normal path: a worker process
imports the module, the test replays the assignment's fixtures (or times the functions
against PyTorch's, for a public performance test). Nothing of the student's code runs in
the kernel's own process on the grader's behalf. What a check shows is dlgrade's own
short report: passed, or the points, FAILED and why.
"""

from __future__ import annotations

import atexit
import inspect
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from grader.classroom import notebook
from grader.engine import assignments, grading, spec

_zygote = None


@dataclass
class CheckReport:
    """One public test's outcome for the notebook's code."""

    test: str
    passed: bool
    not_attempted: bool
    points: float
    max_points: float
    output: str

    def __str__(self) -> str:
        if self.passed:
            printed = self.output.find(grading.PRINTED_HEADER)
            return f"{self.test}: passed" + (f"\n{self.output[printed:]}" if printed >= 0
                                              else "")
        if self.not_attempted:
            return f"{self.test}: not attempted: {self.output}"
        pts = f"{_num(self.points)}/{_num(self.max_points)} points"
        return f"{self.test}: FAILED ({pts})\n{self.output}".rstrip()

    __repr__ = __str__


def _num(x: float):
    return int(x) if float(x).is_integer() else round(x, 4)


def _get_zygote():
    """One warm fork server per kernel, started on the first check and reused."""
    global _zygote
    from grader.boundary import sandbox, spawn

    if _zygote is not None and _zygote.proc.poll() is not None:
        _zygote = None  # it died (e.g. the machine killed it); start another
    if _zygote is None:
        # The notebook's own code, on the student's machine: rlimits where the fork server
        # works, a plain process per check on macOS and Windows.
        _zygote = spawn.start(sandbox.choose("rlimits" if sys.platform not in
                                             sandbox.PLAIN_PLATFORMS else "plain")[0])
        atexit.register(_close_zygote)
    return _zygote


def _close_zygote() -> None:
    global _zygote
    if _zygote is not None:
        _zygote.close()
        _zygote = None


def find_assignment(name: str, directory: str | Path | None = None) -> spec.Assignment:
    """The handout folder the notebook sits in (its assignment.yaml), else `dlgrade list`'s."""
    here = Path(directory) if directory is not None else Path.cwd()
    if (here / "assignment.yaml").is_file():
        a = spec.load(here)
        if a.name == name:
            return a
    return assignments.load(name)


def namespace_source(namespace: dict) -> str:
    """The notebook's code as one module's source.

    In IPython (Jupyter, Colab) the cells the student ran, in order, from the input
    history: later definitions replace earlier ones, as in the kernel. Elsewhere (a plain
    dict of globals), the functions and classes defined in it, recovered with `inspect`.
    """
    history = namespace.get("_ih")
    if isinstance(history, list) and all(isinstance(c, str) for c in history):
        cells = [(f"In [{i}]", c) for i, c in enumerate(history) if c.strip()]
        return notebook.code_from_cells(cells, keep_unparseable=False)
    mod_name = namespace.get("__name__", "__main__")
    imports, defs, consts = [], [], []
    for name, value in list(namespace.items()):
        if name.startswith("__"):
            continue
        if isinstance(value, types.ModuleType):
            top = value.__name__.split(".")[0]
            if top in ("otter", "grader", "IPython") or name in ("In", "Out"):
                continue
            if value.__name__ == name:
                imports.append(f"import {name}")
            else:
                imports.append(f"import {value.__name__} as {name}")
        elif inspect.isfunction(value) or inspect.isclass(value):
            if getattr(value, "__module__", None) == mod_name:
                try:
                    defs.append(inspect.getsource(value))
                except (OSError, TypeError):
                    continue
            elif getattr(value, "__module__", None) and not name.startswith("_"):
                if value.__module__.split(".")[0] not in ("otter", "grader", "IPython"):
                    imports.append(f"from {value.__module__} import {value.__qualname__}"
                                   + (f" as {name}" if name != value.__qualname__ else ""))
        elif isinstance(value, (bool, int, float, str)) and not name.startswith("_"):
            consts.append(f"{name} = {value!r}")
    return "\n".join(imports + consts) + "\n\n\n" + "\n\n".join(defs)


def run_public_test(assignment: str, test_id: str, namespace: dict,
                    directory: str | Path | None = None, device: str = "cpu") -> CheckReport:
    """Run public test `test_id` of `assignment` on the code defined in `namespace`."""
    a = find_assignment(assignment, directory)
    test = next((t for t in a.tests if t.id == test_id), None)
    if test is None or test.visibility != "public":
        public = ", ".join(t.id for t in a.tests if t.visibility == "public")
        raise LookupError(f"{assignment} has no public test {test_id!r} (public: {public})")
    suite = grading.load_suite(a, None)
    source = namespace_source(namespace)

    def report(result: grading.TestResult) -> CheckReport:
        output = result.output
        if result.not_attempted:
            names = ", ".join(test.functions)
            one = len(test.functions) == 1
            output = (f"write {names} in {'its cell' if one else 'their cells'}, run "
                      f"{'it' if one else 'them'}, then this check again")
        return CheckReport(test.id, result.passed, result.not_attempted, result.points,
                           result.max_points, output)

    def failed(reason: str) -> CheckReport:
        return CheckReport(test.id, False, False, 0.0, test.points, reason)

    graded = grading.grade_submission(suite, "notebook", source, zygote=_get_zygote(), seed=0,
                                      device=device, visibilities=("public",),
                                      test_ids=[test.id])
    result = graded.tests[0]
    if graded.status != grading.STATUS_GRADED:
        return failed(graded.reason)
    return report(result)


class Checker:
    """The check cells' object: `check(test_id)` runs one public test on the functions the
    notebook defines (`namespace`, its globals()), `check_all()` every public one."""

    def __init__(self, assignment: str, namespace: dict, directory: str | Path | None = None,
                 device: str = "cpu"):
        self.assignment = find_assignment(assignment, directory)
        self.namespace = namespace
        self.directory = directory
        self.device = device

    def public_tests(self) -> list[str]:
        return [t.id for t in self.assignment.tests if t.visibility == "public"]

    def check(self, test_id: str) -> CheckReport:
        return run_public_test(self.assignment.name, test_id, self.namespace,
                               directory=self.directory, device=self.device)

    def check_all(self) -> CheckSummary:
        return CheckSummary([self.check(t) for t in self.public_tests()])


@dataclass
class CheckSummary:
    """Every public test's report, then the total."""

    reports: list[CheckReport]

    def __str__(self) -> str:
        passed = sum(r.passed for r in self.reports)
        got = sum(r.points for r in self.reports)
        total = sum(r.max_points for r in self.reports)
        return "\n".join([*(str(r) for r in self.reports),
                          f"{passed}/{len(self.reports)} public tests passed, "
                          f"{_num(got)}/{_num(total)} points"])

    __repr__ = __str__
