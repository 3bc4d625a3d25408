"""Benchmark of bulk grading: `make bench-grading` (or `python -m grader.classroom.bench_grading`).

For each assignment named (all of them by default) it grades a class of correct submissions (copies
of the reference) with `--jobs 1` and then `--jobs 2`, and runs `dlgrade check` on the
reference (the student's public tests, as a fresh process: what a student waits for).
In the same run it times `python -c "import torch"` (before and after: the machines are
shared and noisy, so figures are read as ratios to it) and otter-grader's `otter run` on a
one-test linear-layer autograder, next to dlgrade grading the same linear-layer tests.
After each class it times two pure-Python processes side by side against one after the
other (`side_by_side`): the most `--jobs 2` could gain on the machine at that moment.
Each setting's figure also says how many cores the machine kept busy while it graded.
The figures go to docs/benchmarks/grading-<date>.{md,json} (`--record DIR`).

`make_class` (a mixed class: correct, every backprop mutant, stubs, crashes, syntax errors,
slow ones) serves the tests of bulk grading.
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

from grader.boundary import sandbox
from grader.boundary.session import Zygote
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


def busy_cpu_seconds() -> float | None:
    """CPU-seconds the whole machine has been busy since boot (/proc/stat: neither idle,
    waiting for I/O nor stolen by the host), or None where there is no /proc/stat.
    Over a pass, divided by its wall time: how many cores grading kept busy."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def grade_timed(suite, subs, out: Path, jobs: int, report: bool = True, zygote=None) -> dict:
    """Grade `subs` as `dlgrade grade --jobs N` does: one job on `zygote` (else a fork
    server of its own), N > 1 in job processes with a fork server each."""
    from grader.classroom.executors import LocalExecutor, ProcessExecutor

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    if jobs == 1:
        ex = LocalExecutor(suite, jobs, zygote=zygote)
    else:
        box = zygote.sandbox if zygote is not None else sandbox.choose("auto")[0]
        ex = ProcessExecutor(suite.assignment, suite.reference_dir, jobs, box)
    # Fork servers and job processes boot once per run: not a per-submission cost
    # (startup_s records it).
    ex.wait_ready()
    t1, busy1 = time.perf_counter(), busy_cpu_seconds()
    try:
        # The class report is drawn once per run, not per submission: timed apart.
        run = bulk.grade_all(suite, subs, out, secret="bench", device="cpu", executor=ex,
                             progress=False, class_report=False)
        t2, busy2 = time.perf_counter(), busy_cpu_seconds()
    finally:
        ex.close()
    if report:
        from grader.classroom import classreport

        classreport.html_report(suite.assignment, run.results)
    t3 = time.perf_counter()
    status: dict[str, int] = {}
    for r in run.results:
        status[r.status] = status.get(r.status, 0) + 1
    return {"n": len(subs), "jobs": jobs, "startup_s": t1 - t0, "wall_s": t2 - t1,
            "busy_cpu_s": None if busy1 is None or busy2 is None else busy2 - busy1,
            "per_sub_s": (t2 - t1) / len(subs), "per_min": 60 * len(subs) / (t2 - t1),
            "mean_execution_time_s": statistics.fmean(r.execution_time for r in run.results),
            "status": status, "failed": len(run.failed), "report_s": t3 - t2}


def record(folder: Path, prefix: str, title: str, figures: dict, text: str) -> Path:
    """Write a bench's figures to folder/<prefix>-<date>.json and its summary `text` under
    `title` to the .md beside it; returns the path without its suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{prefix}-{time.strftime('%Y-%m-%d-%H%M')}"
    stem.with_suffix(".json").write_text(json.dumps(figures, indent=2) + "\n")
    stem.with_suffix(".md").write_text(f"# {title}\n\n{text}\n")
    print(f"recorded in {stem}.md and .json")
    return stem


def pooled(runs: list[dict]) -> dict:
    """One figure for several passes of grade_timed on the same class: their wall times
    and submissions added up; `passes` keeps each pass's seconds per submission."""
    if len(runs) == 1:
        return runs[0]
    n = sum(r["n"] for r in runs)
    wall = sum(r["wall_s"] for r in runs)
    status: dict[str, int] = {}
    for r in runs:
        for k, v in r["status"].items():
            status[k] = status.get(k, 0) + v
    busy = [r.get("busy_cpu_s") for r in runs]
    return {"n": n, "jobs": runs[0]["jobs"],
            "startup_s": statistics.fmean(r["startup_s"] for r in runs), "wall_s": wall,
            "busy_cpu_s": None if None in busy else sum(busy),
            "per_sub_s": wall / n, "per_min": 60 * n / wall,
            "mean_execution_time_s": statistics.fmean(r["mean_execution_time_s"]
                                                      for r in runs),
            "status": status, "failed": sum(r["failed"] for r in runs),
            "report_s": sum(r["report_s"] for r in runs),
            "passes": [r["per_sub_s"] for r in runs]}


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


def side_by_side(pairs: int = 2, n: int = 4_000_000) -> dict:
    """The machine's own ceiling for `--jobs 2` at this moment: two processes of pure Python
    work (`n` multiply-adds each, about a third of a second) run side by side, against the
    same two one after the other, in ABBA order. On these shared machines two busy
    processes do not always get two whole cores; this says how close to 2x anything could
    get while the class was graded."""
    argv = [sys.executable, "-S", "-c", f"s = 0\nfor i in range({n}): s += i * i"]

    def run(together: bool) -> float:
        t = time.perf_counter()
        if together:
            procs = [subprocess.Popen(argv) for _ in range(2)]
            codes = [p.wait() for p in procs]
        else:
            codes = [subprocess.run(argv).returncode for _ in range(2)]
        if any(codes):
            raise RuntimeError(f"side_by_side: the work process exited with {codes}")
        return time.perf_counter() - t

    serial, parallel = [], []
    for i in range(pairs):
        for together in ((False, True) if i % 2 == 0 else (True, False)):
            (parallel if together else serial).append(run(together))
    return {"pairs": pairs, "serial_s": serial, "parallel_s": parallel,
            "speedup": sum(serial) / sum(parallel)}


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


def _suite_of(name: str) -> grading.Suite:
    a = assignments.load(name)
    return grading.load_suite(a, assignments.reference_dir(name))


def correct_class(name: str, folder: Path, n: int) -> list:
    """`n` copies of the reference of `name`, as a class folder; its submissions."""
    a = assignments.load(name)
    ref = (assignments.reference_dir(name) / f"{a.module}.py").read_text(encoding="utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"s{i:03d}_correct.py").write_text(ref, encoding="utf-8")
    return intake.collect([folder], name)


def check_cost(name: str, work: Path) -> dict:
    """Wall time of `dlgrade check NAME FILE` (a fresh process) on the reference."""
    a = assignments.load(name)
    d = work / f"check-{name}"
    d.mkdir(parents=True, exist_ok=True)
    f = d / f"{a.module}.py"
    shutil.copy(assignments.reference_dir(name) / f"{a.module}.py", f)
    exe = Path(sys.executable).parent / "dlgrade"
    t = time.perf_counter()
    rc = subprocess.run([str(exe), "check", name, str(f)], cwd=d, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL).returncode
    return {"wall_s": time.perf_counter() - t, "exit": rc}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("assignments", nargs="*", help="default: every assignment")
    p.add_argument("-n", type=int, default=2,
                   help="correct submissions per assignment and --jobs setting (default 2, "
                   "even so that --jobs 2 can reach 2x; a run takes about 10 minutes on a "
                   "2-core machine at a load of 12)")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--passes", type=int, default=1,
                   help="grade each class this many times per --jobs setting, in ABBA order "
                   "(1 2 2 1 ...); figures pool the passes (default 1)")
    p.add_argument("--otter", type=int, default=2, help="submissions for `otter run`")
    p.add_argument("--import-runs", type=int, default=2,
                   help="`import torch` timings before and after (each)")
    p.add_argument("--record", metavar="DIR", default="docs/benchmarks",
                   help="write grading-<date>.md and .json there ('' for none)")
    args = p.parse_args(argv)
    if args.passes < 1 or args.n < 1:
        p.error(f"-n and --passes must be 1 or more; got -n {args.n}, --passes {args.passes}")
    names = args.assignments or assignments.available()
    work = Path(tempfile.mkdtemp(prefix="dlgrade-bench-"))
    try:
        load0 = os.getloadavg()
        before = import_torch_cost(args.import_runs)
        print("import torch (before):", before, flush=True)
        rows = {}
        # One fork server for the whole run (as one `dlgrade grade` has): its boot is not
        # a per-submission cost, and booting one per class would double the bench's time.
        zygote = Zygote(sandbox.choose("auto")[0])
        zygote.wait_ready()
        for name in names:
            suite = _suite_of(name)
            subs = correct_class(name, work / f"class-{name}", args.n)
            row = {"tests": len(suite.assignment.tests)}
            runs: dict[int, list[dict]] = {jobs: [] for jobs in args.jobs}
            for i in range(args.passes):
                # ABBA order (1 2, 2 1, ...): a machine that slows down or speeds up over
                # the run weighs on every setting alike.
                for jobs in (args.jobs if i % 2 == 0 else args.jobs[::-1]):
                    runs[jobs].append(grade_timed(suite, subs, work / f"out-{name}-{jobs}",
                                                  jobs, report=False, zygote=zygote))
            for jobs, rs in runs.items():
                row[f"jobs{jobs}"] = pooled(rs)
            row["check"] = check_cost(name, work)
            if {1, 2} <= set(args.jobs):
                row["side_by_side"] = side_by_side()
            rows[name] = row
            print(name, {k: (v["per_sub_s"] if isinstance(v, dict) and "per_sub_s" in v
                             else v) for k, v in row.items()}, flush=True)
        zygote.close()
        after = import_torch_cost(args.import_runs)
        print("import torch (after):", after, flush=True)
        few = []
        if args.otter:
            few = correct_class(NAME, work / "class-otter", args.otter)
        linear = (grade_timed(_suite(tests=("linear_public", "linear")), few,
                              work / "out-linear", 1, report=False) if few else None)
        otter = otter_cost([Path(s.origin) for s in few], work) if few else None
        print("linear tests only:", linear, "otter run:", otter, flush=True)
        load1 = os.getloadavg()
        torch_s = statistics.fmean([before["mean_s"], after["mean_s"]])
        figures = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(),
                   "cpus": os.cpu_count(), "loadavg_before": load0, "loadavg_after": load1,
                   "n": args.n, "passes": args.passes,
                   "import_torch": {"before": before, "after": after, "mean_s": torch_s},
                   "assignments": rows, "linear_only": linear, "otter_run": otter}
        text = summary(figures)
        print(text)
        if args.record:
            record(Path(args.record), "grading", "Grading speed (`make bench-grading`)",
                   figures, text)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def summary(f: dict) -> str:
    torch_s = f["import_torch"]["mean_s"]
    rows = []
    for name, row in f["assignments"].items():
        cells = [name, str(row["tests"])]
        per = {}
        for key in sorted(k for k in row if k.startswith("jobs")):
            per[key] = row[key]["per_sub_s"]
            busy = row[key].get("busy_cpu_s")
            cells.append(f"{per[key]:.2f} s ({per[key] / torch_s:.2f}x)" + (
                "" if busy is None else f", {busy / row[key]['wall_s']:.2f} cores busy"))
        if "jobs1" in per and "jobs2" in per:
            cell = f"{per['jobs1'] / per['jobs2']:.2f}x"
            one, two = row["jobs1"].get("passes"), row["jobs2"].get("passes")
            if one and two:  # each pair of passes on its own
                cell += " (" + ", ".join(f"{a / b:.2f}" for a, b in zip(one, two)) + ")"
            cells.append(cell)
            if "side_by_side" in row:
                cells.append(f"{row['side_by_side']['speedup']:.2f}x")
        check = row["check"]
        cells.append(f"{check['wall_s']:.1f} s ({check['wall_s'] / torch_s:.2f}x)"
                     + ("" if check["exit"] == 0 else f" exit {check['exit']}"))
        statuses = {k: v for key in per for k, v in row[key]["status"].items()}
        cells.append(", ".join(f"{k} {v}" for k, v in statuses.items()))
        rows.append("| " + " | ".join(cells) + " |")
    jobs_cols = sorted({k for row in f["assignments"].values() for k in row
                        if k.startswith("jobs")})
    head = (["assignment", "tests"]
            + [f"per submission --jobs {k[4:]} (x import)" for k in jobs_cols]
            + (["--jobs 2 speed-up"] if {"jobs1", "jobs2"} <= set(jobs_cols) else [])
            + (["two Python processes side by side"]
               if any("side_by_side" in row for row in f["assignments"].values()) else [])
            + ["`dlgrade check` (x import)", "statuses"])
    lines = [
        f"date {f['date']}, {f['machine']}, {f['cpus']} CPUs, load average before "
        f"{f['loadavg_before'][0]:.2f} after {f['loadavg_after'][0]:.2f}; "
        f"{f['n']} correct submissions per assignment and --jobs setting"
        + (f", graded {f['passes']} times each in ABBA order (figures pooled)"
           if f.get("passes", 1) > 1 else ""),
        f"`python -c \"import torch\"`: {f['import_torch']['before']['mean_s']:.2f} s before, "
        f"{f['import_torch']['after']['mean_s']:.2f} s after (mean {torch_s:.2f} s: the unit "
        "of the ratios)",
        "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head), *rows]
    lin, otter = f.get("linear_only"), f.get("otter_run")
    if lin and otter:
        lines += ["", f"backprop's two linear-layer tests, dlgrade --jobs 1: "
                  f"{lin['per_sub_s']:.2f} s per submission; `otter run` with one "
                  f"linear-layer test: {otter['mean_s']:.2f} s (x{otter['k']})"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
