"""The grader's layout keeps its imports one way (docs/architecture.md).

boundary <- engine <- classroom <- authoring <- the entry points (cli, api, the test API
facade, the notebook check). A module may import its own subpackage and any layer below
it, never one above; and no two modules import each other, directly or around a loop.
Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

GRADER = Path(__file__).resolve().parents[1] / "grader"
LAYERS = {"boundary": 0, "engine": 1, "classroom": 2, "authoring": 3}
TOP = 4  # modules directly in grader/


def _module_name(path: Path) -> str:
    parts = path.relative_to(GRADER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in GRADER.rglob("*.py")}


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], TOP) if len(parts) > 1 and parts[1] in LAYERS else TOP


def _imports(path: Path, known: set[str]) -> set[str]:
    """The grader modules `path` imports (from grader.x import y counts grader.x.y when
    that is a module, else grader.x)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "grader"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "grader":
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in known else node.module)
    return {m for m in out if m in known and m not in ("grader",)}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(p, known) - {m} for m, p in mods.items()}


def test_imports_go_one_way():
    wrong = []
    for mod, deps in _graph().items():
        for dep in deps:
            if dep.count(".") == 1 and dep.split(".")[1] in LAYERS:
                continue  # a subpackage's empty __init__
            if _layer(dep) > _layer(mod):
                wrong.append(f"{mod} imports {dep}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    graph = _graph()
    cycles, state = [], {}

    def visit(m, stack):
        state[m] = "open"
        for d in sorted(graph.get(m, ())):
            if state.get(d) == "open":
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_jobs_live_in_subpackages():
    loose = sorted(p.stem for p in GRADER.glob("*.py") if p.stem != "__init__")
    assert set(loose) <= {"__main__", "api", "cli", "notebook_check", "testing"}, loose


def test_listing_and_refusing_import_no_torch(tmp_path):
    """`dlgrade list`, a `grade` refused for a missing path or an unusable output folder,
    and a `check` of a missing file answer without importing torch (~1.5 s): the modules
    they use (results, report, outdir, intake) stay free of it."""
    import subprocess
    import sys

    (tmp_path / "file").write_text("x")
    code = f"""
import contextlib, io, sys
import grader.classroom.intake, grader.classroom.outdir, grader.classroom.report
import grader.engine.results
from grader import cli
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    codes = [cli.main(["list"]),
             cli.main(["grade", "backprop", {str(tmp_path / "missing")!r}, "--out",
                       {str(tmp_path / "out")!r}]),
             cli.main(["grade", "backprop", {str(tmp_path)!r}, "--out",
                       {str(tmp_path / "file")!r}]),
             cli.main(["check", "backprop", {str(tmp_path / "missing.py")!r}])]
print(codes, "torch" in sys.modules)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=GRADER.parent, capture_output=True,
                          text=True, timeout=120)
    assert proc.stdout.split() == ["[0,", "2,", "2,", "2]", "False"], proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists()
