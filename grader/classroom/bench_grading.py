"""Benchmark of bulk grading: `make bench-grading` (or `python -m grader.classroom.bench_grading`).

Grades a synthetic class of backprop submissions made from the reference (correct ones,
every mutant in reference/backprop/mutants, the untouched stub, crashes at import, syntax
errors and slow ones) with `--jobs 2`, then the same class against no tests at all: that
run's wall time per submission is the machinery's overhead (fork a worker, send and import
the source, tear down, write the results), beyond the tests' own compute. For scale it
times `python -c "import torch"` (what a process per submission would pay before running
anything) and otter-grader's `otter run` on a one-test linear-layer autograder, next to
dlgrade grading the same linear-layer tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from grader.classroom import bulk, intake
from grader.engine import assignments, grading

NAME = "backprop"

SLOW = '''

import time as _bench_time

_bench_relu_forward = relu_forward


def relu_forward(x):
    _bench_time.sleep(0.5)
    return _bench_relu_forward(x)
'''


def mutants(root: Path | None = None) -> dict[str, str]:
    """Each mutant's source: its `replace` edits applied to the reference."""
    ref_dir = assignments.reference_dir(NAME, root)
    ref = (ref_dir / f"{NAME}.py").read_text(encoding="utf-8")
    out = {}
    for p in sorted((ref_dir / "mutants").glob("*.yaml")):
        src = ref
        for rep in yaml.safe_load(p.read_text(encoding="utf-8"))["replace"]:
            src = src.replace(rep["old"], rep["new"])
        out[p.stem] = src
    return out


def make_class(folder: Path, n: int = 200, *, slow: int = 4, crash: int = 8, syntax: int = 2,
               stub: int = 6, root: Path | None = None) -> dict[str, int]:
    """Write `n` submissions `s000_<kind>.py` into `folder`; returns the count per kind.
    The rest after slow/crash/syntax/stub is split between correct ones and mutants."""
    folder.mkdir(parents=True, exist_ok=True)
    ref_dir = assignments.reference_dir(NAME, root)
    ref = (ref_dir / f"{NAME}.py").read_text(encoding="utf-8")
    stub_src = (assignments.load(NAME, root).directory / f"{NAME}.py").read_text("utf-8")
    muts = mutants(root)
    kinds: list[tuple[str, str]] = []
    kinds += [("slow", ref + SLOW)] * slow
    kinds += [("crash", "raise RuntimeError('crashed at import')\n" + ref)] * (crash - crash // 2)
    kinds += [("exit", "import os\nos._exit(3)\n" + ref)] * (crash // 2)
    kinds += [("syntax", ref.replace("def relu_forward(x):", "def relu_forward(x)"))] * syntax
    kinds += [("stub", stub_src)] * stub
    rest = max(0, n - len(kinds))
    names = sorted(muts)
    for i in range(rest):
        if i % 2 == 0 or not names:
            kinds.append(("correct", ref))
        else:
            m = names[(i // 2) % len(names)]
            kinds.append((f"mutant-{m}", muts[m]))
    counts: dict[str, int] = {}
    for i, (kind, src) in enumerate(kinds[:n]):
        (folder / f"s{i:03d}_{kind}.py").write_text(src, encoding="utf-8")
        key = kind.split("-")[0]
        counts[key] = counts.get(key, 0) + 1
    return counts


def _suite(tests=None) -> grading.Suite:
    a = assignments.load(NAME)
    suite = grading.load_suite(a, assignments.reference_dir(NAME))
    if tests is not None:
        a = dataclasses.replace(a, tests=tuple(t for t in a.tests if t.id in tests))
        suite = dataclasses.replace(suite, assignment=a)
    return suite


def grade_timed(suite, subs, out: Path, jobs: int) -> dict:
    from grader.classroom.executors import LocalExecutor

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    ex = LocalExecutor(suite, jobs)
    ex.zygote._ready()  # the fork server boots once per run: not a per-submission cost
    t1 = time.perf_counter()
    try:
        # The class report is drawn once per run, not per submission: timed apart.
        run = bulk.grade_all(suite, subs, out, secret="bench", device="cpu", executor=ex,
                             progress=False, class_report=False)
        t2 = time.perf_counter()
    finally:
        ex.close()
    from grader.classroom import classreport

    classreport.html_report(suite.assignment, run.results)
    t3 = time.perf_counter()
    status: dict[str, int] = {}
    for r in run.results:
        status[r.status] = status.get(r.status, 0) + 1
    return {"n": len(subs), "jobs": jobs, "startup_s": t1 - t0, "wall_s": t2 - t1,
            "per_sub_s": (t2 - t1) / len(subs), "per_min": 60 * len(subs) / (t2 - t1),
            "mean_execution_time_s": statistics.fmean(r.execution_time for r in run.results),
            "status": status, "failed": len(run.failed), "report_s": t3 - t2}


def import_torch_cost(k: int = 5) -> dict:
    times = []
    for _ in range(k):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        times.append(time.perf_counter() - t)
    return {"k": k, "mean_s": statistics.fmean(times), "min_s": min(times),
            "max_s": max(times)}


OTTER_TEST = {
    "name": "linear", "points": 1,
    "suites": [{"cases": [{"code": "\n".join([
        ">>> import torch",
        ">>> g = torch.Generator().manual_seed(0)",
        ">>> x = torch.randn(4, 5, generator=g, dtype=torch.float64)",
        ">>> w = torch.randn(5, 3, generator=g, dtype=torch.float64)",
        ">>> b = torch.randn(3, generator=g, dtype=torch.float64)",
        ">>> out, cache = linear_forward(x, w, b)",
        ">>> bool(torch.allclose(out, x @ w + b))",
        "True",
        ">>> dout = torch.randn(4, 3, generator=g, dtype=torch.float64)",
        ">>> dx, dw, db = linear_backward(dout, cache)",
        ">>> all(bool(torch.allclose(p, q)) for p, q in "
        "[(dx, dout @ w.T), (dw, x.T @ dout), (db, dout.sum(0))])",
        "True"]) + "\n", "hidden": False, "locked": False}],
        "scored": True, "setup": "", "teardown": "", "type": "doctest"}],
}


def otter_cost(files: list[Path], work: Path) -> dict | None:
    """`otter run` with a one-test autograder zip on each file, sequentially."""
    otter = Path(sys.executable).parent / "otter"
    if not otter.exists():
        return None
    ag = work / "otter-ag"
    (ag / "tests").mkdir(parents=True, exist_ok=True)
    (ag / "otter_config.json").write_text('{"lang": "python"}\n')
    (ag / "tests" / "linear.py").write_text(
        f"OK_FORMAT = True\ntest = {OTTER_TEST!r}\n")
    zip_path = Path(shutil.make_archive(str(work / "autograder"), "zip", ag))
    times, scores = [], []
    for f in files:
        d = work / f"otter-{f.stem}"
        d.mkdir(exist_ok=True)
        sub = d / "submission.py"
        shutil.copy(f, sub)
        t = time.perf_counter()
        subprocess.run([str(otter), "run", "-a", str(zip_path), "-o", str(d), "--no-logo",
                        str(sub)], cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
        try:
            res = json.loads((d / "results.json").read_text())
            scores.append(sum(t.get("score") or 0 for t in res["tests"]))
        except (OSError, ValueError, KeyError):
            scores.append(None)
    return {"k": len(files), "mean_s": statistics.fmean(times), "min_s": min(times),
            "max_s": max(times), "scores": scores}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=200, help="submissions (default 200)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--otter", type=int, default=3, help="submissions for `otter run`")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="dlgrade-bench-"))
    try:
        load0 = os.getloadavg()
        counts = make_class(work / "class", args.n)
        subs = intake.collect([work / "class"], NAME)
        print(f"{len(subs)} submissions: {counts}", flush=True)
        full = grade_timed(_suite(), subs, work / "out-full", args.jobs)
        print("full:", full, flush=True)
        empty = grade_timed(_suite(tests=()), subs, work / "out-empty", args.jobs)
        print("no tests:", empty, flush=True)
        linear_ids = ("linear_public", "linear")
        few = [s for s in subs if "correct" in s.id][:max(args.otter, 1)]
        few_linear = grade_timed(_suite(tests=linear_ids), few * 1, work / "out-linear", 1)
        print("linear tests only:", few_linear, flush=True)
        torch_cost = import_torch_cost()
        print("import torch:", torch_cost, flush=True)
        otter = otter_cost([Path(s.origin) for s in few], work) if args.otter else None
        print("otter run:", otter, flush=True)
        load1 = os.getloadavg()
        figures = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(),
                   "cpus": os.cpu_count(), "loadavg_before": load0, "loadavg_after": load1,
                   "counts": counts, "full": full, "no_tests": empty,
                   "linear_only": few_linear, "import_torch": torch_cost, "otter_run": otter}
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
        print(summary(figures))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def summary(f: dict) -> str:
    full, empty, lin = f["full"], f["no_tests"], f["linear_only"]
    otter = f["otter_run"]
    rows = [
        f"| full backprop suite (12 tests), {full['n']} submissions, --jobs {full['jobs']} | "
        f"{full['wall_s']:.1f} s | {full['per_min']:.0f}/min | {full['per_sub_s']:.3f} s |",
        f"| same class, no tests (machinery overhead), --jobs {empty['jobs']} | "
        f"{empty['wall_s']:.1f} s | {empty['per_min']:.0f}/min | {empty['per_sub_s']:.3f} s |",
        f"| linear-layer tests only, {lin['n']} submissions, --jobs 1 | {lin['wall_s']:.1f} s |"
        f" | {lin['per_sub_s']:.3f} s |",
        f"| `python -c \"import torch\"` (x{f['import_torch']['k']}) | | | "
        f"{f['import_torch']['mean_s']:.3f} s |",
    ]
    if otter:
        rows.append(f"| `otter run`, one linear-layer test (x{otter['k']}) | | | "
                    f"{otter['mean_s']:.3f} s |")
    return "\n".join([
        f"date {f['date']}, {f['machine']}, {f['cpus']} CPUs, load average before "
        f"{f['loadavg_before'][0]:.2f} after {f['loadavg_after'][0]:.2f}",
        f"class: {f['counts']}; statuses: {full['status']}; fork server start "
        f"{full['startup_s']:.1f} s and report.html {full['report_s']:.1f} s, once per run "
        "(not in the wall times)",
        "", "| run | wall | rate | per submission |", "|---|---|---|---|", *rows])


if __name__ == "__main__":
    sys.exit(main())
