"""`dlgrade calibrate`: measure where a performance limit should go.

Times the reference, every `reference/<name>/variants/correct_*.py` and every
`naive_*.py` with the assignment's own performance tests (limits not enforced, no early
stop), and proposes for each test the geometric midpoint between the slowest legitimate
ratio and the fastest naive one, with the margin on each side.

Which side a variant is on is decided per test by the op count, not by its file name: a
naive variant that loops only in mlp_loss is a legitimate sample for perf_linear.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from grader.boundary.session import WorkerSession, Zygote
from grader.engine import assignments, grading, perf


@dataclass
class Sample:
    """One source on one test: the ratios of every run."""

    source: str
    test: str
    ratios: list[float] = field(default_factory=list)
    loops: list[str] = field(default_factory=list)
    op_counts: dict = field(default_factory=dict)
    passed_runs: int = 0
    """Runs in which the graded test (limits and op count enforced) would pass."""
    runs: int = 0
    error: str = ""

    @property
    def naive(self) -> bool:
        return bool(self.loops)


@dataclass
class Proposal:
    test: str
    limit: float
    """The limit currently in the spec for this device class."""
    slowest_legit: float | None
    fastest_naive: float | None

    @property
    def threshold(self) -> float | None:
        if self.slowest_legit is None or self.fastest_naive is None:
            return None
        return math.sqrt(self.slowest_legit * self.fastest_naive)

    @property
    def margins(self) -> tuple[float | None, float | None]:
        """(proposed limit / slowest legitimate, fastest naive / proposed limit)."""
        th = self.threshold
        if th is None:
            return None, None
        return th / self.slowest_legit, self.fastest_naive / th


def sources(name: str, root: Path | None = None) -> list[tuple[str, Path]]:
    ref_dir = assignments.reference_dir(name, root)
    a = assignments.load(name, root)
    out = [("reference", ref_dir / f"{a.module}.py")]
    for pattern in ("correct_*.py", "naive_*.py"):
        out += [(p.stem, p) for p in sorted((ref_dir / "variants").glob(pattern))]
    return out


def run(name: str, *, device: str = "cpu", rounds: int | None = None, runs: int = 1,
        only: list[str] | None = None, tests: list[str] | None = None,
        zygote: Zygote | None = None, root: Path | None = None, graded: bool = False,
        opcount: bool = True, progress=None) -> tuple[list[Sample], list[Proposal]]:
    a = assignments.load(name, root)
    suite = grading.load_suite(a, assignments.reference_dir(name, root))
    perf_tests = [t for t in a.tests if t.kind == "performance"
                  and (not tests or t.id in tests)]
    if not perf_tests:
        return [], []
    own = zygote is None
    zygote = zygote or Zygote()
    samples: list[Sample] = []
    try:
        for label, path in sources(name, root):
            if only and label not in only:
                continue
            source = path.read_text(encoding="utf-8")
            with WorkerSession(zygote, a.module, source, device=device) as session:
                for test in perf_tests:
                    s = Sample(label, test.id)
                    samples.append(s)
                    for i in range(runs):
                        measured = _measure(suite, test, session, device, rounds, i, s,
                                            graded, opcount)
                        if progress:
                            progress(s, measured)
    finally:
        if own:
            zygote.close()
    return samples, propose(perf_tests, samples, device)


def propose(tests, samples: list[Sample], device: str) -> list[Proposal]:
    dclass = perf.device_class(device)
    proposals = []
    for test in tests:
        mine = [s for s in samples if s.test == test.id and s.ratios]
        legit = [max(s.ratios) for s in mine if not s.naive]
        naive = [min(s.ratios) for s in mine if s.naive]
        limit = test.perf[dclass].max_ratio if dclass in test.perf else float("nan")
        proposals.append(Proposal(test.id, limit, max(legit) if legit else None,
                                  min(naive) if naive else None))
    return proposals


def merge_saved(path: Path, name: str, device: str, samples: list[Sample],
                root: Path | None = None) -> tuple[list[Sample], list[Proposal]]:
    """This run's samples plus those of a saved calibration for sources not re-measured
    (so sources can be calibrated a few at a time), with proposals recomputed."""
    new = {(s.source, s.test) for s in samples}
    merged = list(samples)
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = {}
        for d in old.get("samples", []):
            if (d["source"], d["test"]) not in new:
                merged.append(Sample(d["source"], d["test"], list(d["ratios"]),
                                     list(d.get("loops", [])), d.get("op_counts", {}),
                                     d.get("passed_runs", 0), d.get("runs", 0),
                                     d.get("error", "")))
    a = assignments.load(name, root)
    tests = [t for t in a.tests if t.kind == "performance"]
    order = {t.id: i for i, t in enumerate(tests)}
    merged.sort(key=lambda s: (order.get(s.test, 99), s.source != "reference", s.source))
    return merged, propose(tests, merged, device)


def saved_path(name: str, device: str, root: Path | None = None) -> Path:
    """Where `save` keeps an assignment's calibration on one device class."""
    return ((root or assignments.project_root()) / "docs" / "benchmarks" /
            f"calibrate-{name}-{perf.device_class(device)}.json")


def save(name: str, device: str, samples: list[Sample], root: Path | None = None
         ) -> tuple[Path, list[Sample], list[Proposal]]:
    """Merge `samples` into the saved calibration (keeping sources not measured this time)
    and write it; returns the file and the merged samples and proposals."""
    path = saved_path(name, device, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples, proposals = merge_saved(path, name, device, samples, root)
    path.write_text(json.dumps(as_json(name, device, samples, proposals), indent=1) + "\n")
    return path, samples, proposals


def _measure(suite, test, session, device, rounds, run_index, s: Sample, graded=False,
             opcount=True):
    """One run of `test`. Calibration: limits not enforced, no early stop, so every
    ratio is measured. `graded`: exactly as grading runs it (early stops, limits and, with
    `opcount`, the op count enforced): counts passes, ratios where it got that far."""
    settings = perf.PerfSettings(rounds=rounds, enforce=graded, early_stop=graded,
                                 opcount=opcount)
    r = grading.run_test(suite, test, session, seed=run_index + 1, device=device,
                         static_uses={}, perf_settings=settings)
    ctx = r.extra.pop("context", None)
    ms = perf.results_of(ctx) if ctx is not None else []
    s.runs += 1
    timed = [m for m in ms if m.timed]
    s.loops = sorted(set(s.loops) | {d for m in ms for d in m.loops})
    s.op_counts = {m.fn: m.op_counts for m in ms} or s.op_counts
    if graded:
        s.passed_runs += r.passed
        if not r.passed and not s.error:
            s.error = r.output.splitlines()[-1].strip()[:200] if r.output else ""
    elif not timed or len(timed) != len(ms):
        s.error = r.output.splitlines()[-1].strip() if r.output else "not timed"
        return None
    if not timed:
        return None
    worst = max(timed, key=lambda m: m.ratio / m.limit)
    s.ratios.append(worst.ratio)
    if not graded and not s.loops and all(m.ratio <= m.limit for m in timed):
        s.passed_runs += 1
    return worst


def _f(x, fmt="{:.2f}"):
    return "-" if x is None else fmt.format(x)


def report(name: str, device: str, samples: list[Sample], proposals: list[Proposal]) -> str:
    from grader.classroom.report import table

    lines = [f"{name} on {device}: ratio = student time / reference time "
             "(median of per-round ratios; per source: median [min, max] over runs)", ""]
    rows = []
    for s in samples:
        if s.error and not s.ratios and not s.passed_runs:
            rows.append([s.test, s.source, "failed", s.error[:70], f"{s.passed_runs}/{s.runs}",
                         "; ".join(f"{d}: {c}" for m in s.op_counts.values()
                                   for d, c in m.items())])
            continue
        kind = (f"naive (loops over {', '.join(s.loops)})" if s.naive else
                "legitimate" if s.op_counts else "(op count not run)")
        rows.append([s.test, s.source, kind,
                     f"{statistics.median(s.ratios):.2f} [{min(s.ratios):.2f}, "
                     f"{max(s.ratios):.2f}]",
                     f"{s.passed_runs}/{s.runs}",
                     "; ".join(f"{d}: {c}" for m in s.op_counts.values()
                               for d, c in m.items())])
    lines.append(table(rows, ["test", "source", "kind", "ratio", "passes (current limit)",
                              "op counts"]))
    lines.append("")
    if not any(s.op_counts for s in samples):
        lines.append("(no op counts: which side each source is on is unknown, so no limit "
                     "is proposed)")
        return "\n".join(lines)
    rows = []
    for p in proposals:
        lo, hi = p.margins
        rows.append([p.test, _f(p.limit, "{:g}"), _f(p.slowest_legit), _f(p.fastest_naive),
                     _f(p.threshold), _f(lo, "{:.1f}x"), _f(hi, "{:.1f}x")])
    lines.append(table(rows, ["test", "limit now", "slowest legitimate", "fastest naive",
                              "proposed limit", "margin below", "margin above"]))
    lines.append("\nproposed limit = sqrt(slowest legitimate * fastest naive); margins are "
                 "the factors between it and each side.")
    return "\n".join(lines)


def as_json(name: str, device: str, samples: list[Sample], proposals: list[Proposal]) -> dict:
    return {
        "assignment": name, "device": device,
        "samples": [{"test": s.test, "source": s.source, "naive": s.naive, "loops": s.loops,
                     "ratios": [round(r, 4) for r in s.ratios], "passed_runs": s.passed_runs,
                     "runs": s.runs, "op_counts": s.op_counts, "error": s.error}
                    for s in samples],
        "proposals": [{"test": p.test, "limit": p.limit, "slowest_legit": p.slowest_legit,
                       "fastest_naive": p.fastest_naive, "proposed": p.threshold,
                       "margin_below": p.margins[0], "margin_above": p.margins[1]}
                      for p in proposals],
    }
