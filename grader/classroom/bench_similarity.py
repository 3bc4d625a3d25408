"""Benchmark and acceptance check of `dlgrade similarity`
(`python -m grader.classroom.bench_similarity`).

Acceptance, per assignment: a class of independent solutions in different styles (the
reference and every `reference/<name>/variants/*.py`) plus disguised copies of two of them
(`disguise`: identifiers renamed, comments replaced, functions reordered, reformatted); the
two copies must be the two top pairs with a wide gap to the best independent pair, and the
untouched stub must match nothing. Timing: the whole command (`dlgrade similarity`, in a
fresh process, so reading, fingerprinting, comparing every pair and writing both files)
on a generated class of 300 submissions, each a disguised copy of one of the assignment's
solutions (the worst case: most pairs share code). Figures: docs/benchmarks/similarity.md.
"""

from __future__ import annotations

import argparse
import ast
import csv
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.classroom import similarity
from grader.engine import assignments, syntax

_WORDS = ("compute", "the", "result", "here", "shape", "gradient", "step", "then", "use",
          "matrix", "batch", "loop", "fast", "note", "check", "sum", "over", "axis", "save")


def solutions(name: str, root: Path | None = None) -> dict[str, str]:
    """The reference and every variant (correct and naive: each an independent solution
    written in its own style), by name."""
    a = assignments.load(name, root)
    ref_dir = assignments.reference_dir(name, root)
    out = {"reference": (ref_dir / f"{a.module}.py").read_text(encoding="utf-8")}
    for p in sorted((ref_dir / "variants").glob("*.py")):
        out[p.stem] = p.read_text(encoding="utf-8")
    return out


class _Renamer(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]):
        self.mapping = mapping

    def visit_Name(self, node):
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.mapping.get(node.arg, node.arg)
        self.generic_visit(node)
        return node

    def visit_FunctionDef(self, node):
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node

    def visit_keyword(self, node):
        # A keyword argument to one of the module's own functions follows its parameter.
        if node.arg in self.mapping and node.arg not in _API_KEYWORDS:
            node.arg = self.mapping[node.arg]
        self.generic_visit(node)
        return node


# Keyword arguments of torch's own functions that solutions pass by name; they name
# torch's parameters, not the student's, so a copier cannot rename them.
_API_KEYWORDS = {"dim", "keepdim", "dtype", "device", "out", "generator", "alpha", "value",
                 "diagonal", "kernel_size", "stride", "padding", "dilation", "size", "p",
                 "index", "source", "min", "max", "layout", "requires_grad", "memory_format",
                 "input", "other", "mask", "beta", "eps", "weight", "bias", "start", "end",
                 "step", "offset", "dims", "shifts", "descending", "largest", "sorted"}


def disguise(source: str, seed: int, keep: set[str] | None = None) -> str:
    """A copy a student would hand in to hide where it came from: every name the module
    binds renamed (except the functions in `keep`, the assignment's API, which the grader
    calls by name), docstrings and comments replaced by other comments, the top-level
    functions shuffled, and the code reformatted (ast.unparse). It still runs the same."""
    rng = random.Random(seed)
    keep = keep or set()
    tree = syntax.parse(source)
    bound = similarity.bound_names(source) or set()
    imported = {a.asname or a.name.split(".")[0] for n in ast.walk(tree)
                if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    rename = sorted(bound - keep - imported - attrs - {"self", "cls"})
    fresh = [f"{rng.choice(('v', 't', 'tmp', 'val', 'q', 'z'))}{i}"
             for i in rng.sample(range(100, 999), len(rename))]
    tree = _Renamer(dict(zip(rename, fresh))).visit(tree)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str) and len(body) > 1:
            del body[0]  # the docstring
    head = [s for s in tree.body if not isinstance(s, (ast.FunctionDef, ast.ClassDef))]
    defs = [s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.ClassDef))]
    rng.shuffle(defs)
    tree.body = head + defs
    lines = []
    for line in ast.unparse(ast.fix_missing_locations(tree)).splitlines():
        if line.strip() and rng.random() < 0.25:
            indent = line[:len(line) - len(line.lstrip())]
            lines.append(indent + "# " + " ".join(rng.sample(_WORDS, 4)))
        lines.append(line)
    return "\n".join(lines) + "\n"


def api_names(name: str, root: Path | None = None) -> set[str]:
    return set(assignments.load(name, root).functions)


def stub(name: str, root: Path | None = None) -> str:
    a = assignments.load(name, root)
    return (a.directory / f"{a.module}.py").read_text(encoding="utf-8")


def acceptance_class(name: str, folder: Path, copied: tuple[str, str] | None = None,
                     root: Path | None = None) -> dict[str, str]:
    """Write the class (every solution, disguised copies of two of them, the untouched
    stub) as `folder/<id>.py`; returns {copy id: original id}."""
    sols = solutions(name, root)
    if copied is None:
        correct = [s for s in sols if s.startswith("correct_")] + ["reference"]
        copied = (correct[0], correct[1])
    folder.mkdir(parents=True, exist_ok=True)
    for sid, src in sols.items():
        (folder / f"{sid}.py").write_text(src, encoding="utf-8")
    (folder / "untouched_stub.py").write_text(stub(name, root), encoding="utf-8")
    keep = api_names(name, root)
    out = {}
    for i, orig in enumerate(copied):
        cid = f"copy_of_{orig}"
        (folder / f"{cid}.py").write_text(disguise(sols[orig], seed=i + 1, keep=keep),
                                          encoding="utf-8")
        out[cid] = orig
    return out


def generated_class(name: str, folder: Path, n: int, root: Path | None = None) -> None:
    """n submissions, each a disguised copy of one of the assignment's solutions."""
    sols = list(solutions(name, root).values())
    keep = api_names(name, root)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"student{i:04d}.py").write_text(
            disguise(sols[i % len(sols)], seed=1000 + i, keep=keep), encoding="utf-8")


def run_cli(name: str, folder: Path, out: Path, *extra: str) -> tuple[float, float]:
    """Wall time and CPU time (its own and its children's) of `dlgrade similarity` in a
    fresh process."""
    before = os.times()
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", "similarity", name, str(folder),
                    "--out", str(out), *extra], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = os.times()
    return wall, (after.children_user + after.children_system
                  - before.children_user - before.children_system)


def read_pairs(out: Path) -> list[dict]:
    with open(out / "similarity.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("assignments", nargs="*", help="default: every assignment")
    p.add_argument("-n", type=int, default=300, help="generated class size (default 300)")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2],
                   help="time the command with each of these --jobs (default: 1 2)")
    p.add_argument("--timing-assignment", default="attention",
                   help="the assignment whose solutions the generated class copies")
    args = p.parse_args(argv)
    names = args.assignments or assignments.available()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| assignment | class | two top pairs (score) | best other pair of independent "
          "solutions | best pair with a naive variant | stub's best |")
    print("|---|---|---|---|---|---|")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            folder, out = Path(tmp) / name / "class", Path(tmp) / name / "out"
            copies = acceptance_class(name, folder)
            run_cli(name, folder, out)
            pairs = read_pairs(out)
            top_ok = {frozenset((r["a"], r["b"])) for r in pairs[:2]} == \
                {frozenset(c) for c in copies.items()}
            rest = [r for r in pairs[2:] if "untouched_stub" not in (r["a"], r["b"])]
            # The naive variants reuse whole functions of the reference: not independent.
            naive = [r for r in rest if r["a"].startswith("naive_") or
                     r["b"].startswith("naive_")]
            indep = [r for r in rest if r not in naive]
            stub_max = max(float(r["score"]) for r in pairs
                           if "untouched_stub" in (r["a"], r["b"]))
            ok &= top_ok and stub_max == 0.0

            def show(r):
                return f"{r['a']} ~ {r['b']} ({float(r['score']):.2f})" if r else "-"

            print(f"| {name} | {len(list(folder.iterdir()))} | "
                  + ", ".join(show(r) for r in pairs[:2])
                  + ("" if top_ok else " **copies not on top**")
                  + f" | {show(indep[0] if indep else None)} | "
                  f"{show(naive[0] if naive else None)} | {stub_max:.2f} |")
        folder, out = Path(tmp) / "gen" / "class", Path(tmp) / "gen" / "out"
        t0 = time.perf_counter()
        generated_class(args.timing_assignment, folder, args.n)
        gen = time.perf_counter() - t0
        print(f"\n{args.n} generated {args.timing_assignment} submissions (generated in "
              f"{gen:.1f} s), the whole `dlgrade similarity` command:\n")
        print("| --jobs | wall s | CPU s | pairs | load average before |")
        print("|---|---|---|---|---|")
        for jobs in args.jobs:
            load = os.getloadavg()[0]
            wall, cpu = run_cli(args.timing_assignment, folder, out, "--jobs", str(jobs))
            print(f"| {jobs} | {wall:.1f} | {cpu:.1f} | {len(read_pairs(out))} | {load:.2f} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
