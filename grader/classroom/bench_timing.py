"""Timing fairness of `dlgrade grade --jobs 2`: one timing slot against one per core.

`python -m grader.classroom.bench_timing [ASSIGNMENT...]` grades, for each assignment, a
class of legitimate solutions (the reference and every `correct_*` variant, in turn, up to
`--legit` submissions) and `--naive` copies of every `naive_*` variant, with `--jobs 2`,
once with a timing slot per core (two timed sections at once on two cores) and once with
one (as DLGRADE_TIMING_SLOTS=1: one at a time), in ABBA order over `--passes` passes.
It reports, per performance test, the ratios the legitimate
solutions got (median, 90th percentile, worst) and the best a naive one got where the test
fails it, under each setting; any point a legitimate solution lost is listed. Grades must
not depend on the setting: the two columns should read alike, far from the limit on both
sides. Figures go to docs/benchmarks/timing-slots-<date>.{md,json} (`--record DIR`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from grader.classroom import bulk, executors, intake
from grader.classroom.bench_grading import record
from grader.engine import assignments, grading

SETTINGS = ("cores", "one")
"""A timing slot per core (executors.usable_cores), and one slot."""


def fairness_class(name: str, folder: Path, legit: int, naive: int) -> list:
    """The reference and its `correct_*` variants in turn (`legit` files), and `naive`
    copies of each `naive_*` variant, as a class folder; its submissions. A file's id
    starts with its source's name."""
    ref_dir = assignments.reference_dir(name)
    module = assignments.load(name).module
    good = [ref_dir / f"{module}.py", *sorted((ref_dir / "variants").glob("correct_*.py"))]
    slow = sorted((ref_dir / "variants").glob("naive_*.py"))
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(legit):
        src = good[i % len(good)]
        stem = "reference" if i % len(good) == 0 else src.stem
        shutil.copy(src, folder / f"{stem}-{i:02d}.py")
    for src in slow:
        for i in range(naive):
            shutil.copy(src, folder / f"{src.stem}-{i:02d}.py")
    return intake.collect([folder], name)


def tally(results) -> dict:
    """Per performance test, from graded results (SubmissionResult): the ratios of legitimate
    submissions, the ratios of naive ones the test failed (a naive variant may be
    legitimate for one test, e.g. a per-sample MLP loop around a vectorized linear layer:
    perf_linear passes it by design), the limit; and every point a legitimate one lost."""
    tests: dict[str, dict] = {}
    lost: list[str] = []
    for r in results:
        naive = r.submission.startswith("naive_")
        for t in r.tests:
            if not naive and t.points < t.max_points:
                lost.append(f"{r.submission} {t.id} {t.points:g}/{t.max_points:g}: "
                            f"{t.output.splitlines()[0] if t.output else ''}")
            for f in t.extra.get("functions", []) if t.kind == "performance" else []:
                if f.get("ratio") is None:
                    continue  # not timed (failed first, or its op count grew)
                row = tests.setdefault(t.id, {"limit": f.get("limit"), "legit": [],
                                              "naive": []})
                if not naive:
                    row["legit"].append(f["ratio"])
                elif t.points < t.max_points:
                    row["naive"].append(f["ratio"])
    return {"tests": tests, "lost": lost, "graded": len(results)}


def _merge(a: dict, b: dict) -> dict:
    tests = {k: dict(v, legit=list(v["legit"]), naive=list(v["naive"]))
             for k, v in a["tests"].items()}
    for k, v in b["tests"].items():
        row = tests.setdefault(k, {"limit": v["limit"], "legit": [], "naive": []})
        row["legit"] += v["legit"]
        row["naive"] += v["naive"]
    return {"tests": tests, "lost": a["lost"] + b["lost"], "graded": a["graded"] + b["graded"]}


def table(figures: dict) -> str:
    """Markdown: a row per performance test, the settings side by side."""
    head = ["assignment", "test", "limit", "legit samples"]
    for s in SETTINGS:
        head += [f"{s}: median", "p90", "worst", "best naive"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, per in figures["assignments"].items():
        for tid in sorted(per[SETTINGS[0]]["tests"]):
            first = per[SETTINGS[0]]["tests"][tid]
            cells = [name, tid, f"{first['limit']:g}", str(len(first["legit"]))]
            for s in SETTINGS:
                row = per[s]["tests"].get(tid, {"legit": [], "naive": []})
                v = sorted(row["legit"])
                if v:
                    cells += [f"{statistics.median(v):.2f}",
                              f"{v[min(len(v) - 1, int(0.9 * len(v)))]:.2f}", f"{v[-1]:.2f}"]
                else:
                    cells += ["-", "-", "-"]
                cells.append(f"{min(row['naive']):.1f}" if row["naive"] else "-")
            lines.append("| " + " | ".join(cells) + " |")
    for s in SETTINGS:
        lost = [f"{name}: {x}" for name, per in figures["assignments"].items()
                for x in per[s]["lost"]]
        graded = sum(per[s]["graded"] for per in figures["assignments"].values())
        lines.append(f"\n{s}: {graded} submissions graded; points lost by legitimate "
                     f"solutions: {len(lost)}" + "".join(f"\n- {x}" for x in lost))
    return "\n".join(lines)


def grade_with_slots(suite, subs, out: Path, slots: int) -> list:
    """Grade `subs` with --jobs 2 in job processes, `slots` of them timing at once."""
    from grader.boundary import sandbox

    ex = executors.ProcessExecutor(suite.assignment, suite.reference_dir, 2,
                                   sandbox.choose("auto")[0], slots=slots)
    try:
        ex.wait_ready()
        shutil.rmtree(out, ignore_errors=True)
        run = bulk.grade_all(suite, subs, out, secret=f"timing-{out.name}", device="cpu",
                             executor=ex, progress=False, class_report=False)
    finally:
        ex.close()
    return run.results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("assignments", nargs="*", help="default: every assignment")
    p.add_argument("--legit", type=int, default=32, help="legitimate submissions per class")
    p.add_argument("--naive", type=int, default=2, help="copies of each naive variant")
    p.add_argument("--passes", type=int, default=2,
                   help="passes per setting, in ABBA order (default 2)")
    p.add_argument("--record", metavar="DIR", default="docs/benchmarks",
                   help="write timing-slots-<date>.md and .json there ('' for none)")
    args = p.parse_args(argv)
    if min(args.legit, args.passes) < 1 or args.naive < 0:
        p.error(f"--legit and --passes must be 1 or more, --naive 0 or more; got --legit "
                f"{args.legit}, --passes {args.passes}, --naive {args.naive}")
    names = args.assignments or assignments.available()
    work = Path(tempfile.mkdtemp(prefix="dlgrade-timing-"))
    started = time.strftime("%Y-%m-%d %H:%M")
    slots = {"cores": executors.usable_cores(), "one": 1}
    try:
        figures = {"date": started, "cpus": os.cpu_count(), "slots": slots,
                   "loadavg_before": os.getloadavg(), "legit": args.legit,
                   "naive": args.naive, "passes": args.passes, "assignments": {}}
        for name in names:
            suite = grading.load_suite(assignments.load(name), assignments.reference_dir(name))
            subs = fairness_class(name, work / f"class-{name}", args.legit, args.naive)
            per = {s: {"tests": {}, "lost": [], "graded": 0} for s in SETTINGS}
            for i in range(args.passes):
                for s in (SETTINGS if i % 2 == 0 else SETTINGS[::-1]):
                    results = grade_with_slots(suite, subs, work / f"out-{name}-{s}-{i}",
                                               slots[s])
                    per[s] = _merge(per[s], tally(results))
                    print(f"{name} {s} pass {i + 1}: {len(results)} graded", flush=True)
            figures["assignments"][name] = per
        figures["loadavg_after"] = os.getloadavg()
        text = (f"date {started}, {figures['cpus']} CPUs ({slots['cores']} "
                "timing slots at one per core), load average before "
                f"{figures['loadavg_before'][0]:.2f} after {figures['loadavg_after'][0]:.2f}; "
                f"{args.legit} legitimate submissions and {args.naive} copies of each naive "
                f"variant per class, {args.passes} passes per setting in ABBA order, "
                "`--jobs 2`\n\n" + table(figures))
        print(text)
        if args.record:
            record(Path(args.record), "timing-slots", "Timing slots and grades "
                   "(`python -m grader.classroom.bench_timing`)", figures, text)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
