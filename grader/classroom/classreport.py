"""The class report: one self-contained `report.html` for the TA.

Score distribution, status counts, pass rate per test, the distribution of performance
ratios (from `perf_*` tests' `extra["ratio"]` and `extra["limit"]`), the hardest tests,
and the submissions that ended in an error or a timeout with their reasons. Plots are
drawn with matplotlib's Agg backend and embedded as base64 PNGs; every piece of text that
comes from a submission (ids, reasons) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from collections import Counter

from grader.engine.grading import SubmissionResult
from grader.engine.spec import Assignment


def _num(x: float) -> str:
    return f"{x:g}" if float(x).is_integer() else f"{x:.2f}"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return ('<img alt="plot" src="data:image/png;base64,'
            + base64.b64encode(buf.getvalue()).decode("ascii") + '">')


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def perf_ratios(results: list[SubmissionResult]) -> dict[str, tuple[list[float], float | None]]:
    """Per performance test: the ratios measured and its limit."""
    out: dict[str, tuple[list[float], float | None]] = {}
    for r in results:
        for t in r.tests:
            ratio = t.extra.get("ratio") if isinstance(t.extra, dict) else None
            if not (t.id.startswith("perf_") or t.kind == "performance") or \
                    not isinstance(ratio, (int, float)) or isinstance(ratio, bool):
                continue
            ratios, limit = out.get(t.id, ([], None))
            lim = t.extra.get("limit")
            ratios.append(float(ratio))
            out[t.id] = (ratios, float(lim) if isinstance(lim, (int, float)) else limit)
    return out


def html_report(a: Assignment, results: list[SubmissionResult],
                folders: dict[str, str] | None = None) -> str:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    folders = folders or {}
    n = len(results)
    scores = [r.score for r in results]
    status = Counter(r.status for r in results)
    parts = [f"<h1>{html.escape(a.title)}</h1>",
             f"<p>Assignment <code>{html.escape(a.name)}</code> (spec {a.digest}), "
             f"{n} submissions, maximum {_num(a.max_score)} points.</p>",
             # Relative, so it works once `dlgrade similarity --out` writes into this folder.
             '<p>Code similarity: <a href="similarity.html">similarity.html</a> (after '
             f"<code>dlgrade similarity {html.escape(a.name)} ... --out</code> this folder)</p>"]
    if n:
        parts.append(_table(["mean", "median", "min", "max", "full marks", "zero"], [[
            _num(statistics.fmean(scores)), _num(statistics.median(scores)),
            _num(min(scores)), _num(max(scores)),
            str(sum(s >= a.max_score - 1e-9 for s in scores)),
            str(sum(s <= 1e-9 for s in scores))]]))
    parts.append("<h2>Status</h2>")
    parts.append(_table(["status", "submissions"],
                        [[k, str(status.get(k, 0))] for k in ("graded", "error", "timeout")]
                        + [[k, str(v)] for k, v in sorted(status.items())
                           if k not in ("graded", "error", "timeout")]))
    if not n:
        parts.append("<p>No results.</p>")
        return _page(a, parts)

    # Score distribution and status counts.
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2),
                                   gridspec_kw={"width_ratios": [3, 1]})
    bins = min(20, max(5, int(a.max_score) + 1))
    ax1.hist(scores, bins=bins, range=(0, a.max_score), color="#4878a8", edgecolor="white")
    ax1.set_xlabel("score")
    ax1.set_ylabel("submissions")
    ax1.set_title("score distribution")
    labels = sorted(status)
    ax2.bar(labels, [status[k] for k in labels],
            color=["#59a14f" if k == "graded" else "#e15759" for k in labels])
    ax2.set_title("status")
    parts.append("<h2>Scores</h2>" + _png(fig))

    # Pass rate per test.
    tests = list(a.tests)
    rate = {}
    attempted = {}
    for t in tests:
        rows = [x for r in results for x in r.tests if x.id == t.id]
        rate[t.id] = sum(x.passed for x in rows) / len(rows) if rows else 0.0
        attempted[t.id] = sum(not x.not_attempted for x in rows)
    parts.append("<h2>Pass rate per test</h2>")
    if tests:
        fig, ax = plt.subplots(figsize=(10, 0.3 * len(tests) + 1))
        ids = [t.id for t in tests][::-1]
        ax.barh(ids, [100 * rate[i] for i in ids],
                color=["#9c755f" if a.test(i).visibility == "hidden" else "#4878a8"
                       for i in ids])
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of submissions passing (brown: hidden tests)")
        parts.append(_png(fig))
    else:
        parts.append("<p>No tests.</p>")

    hardest = sorted(tests, key=lambda t: (rate[t.id], t.id))[:10]
    parts.append("<h2>Hardest tests</h2>")
    parts.append(_table(
        ["test", "visibility", "points", "passing", "attempted", "mean points"],
        [[t.id, t.visibility, _num(t.points), f"{100 * rate[t.id]:.0f}%",
          str(attempted[t.id]),
          _num(statistics.fmean([x.points for r in results for x in r.tests
                                 if x.id == t.id] or [0.0]))]
         for t in hardest]))

    # Performance ratios.
    parts.append("<h2>Performance</h2>")
    perf = perf_ratios(results)
    if not perf:
        parts.append("<p>No performance tests in these results.</p>")
    else:
        fig, axes = plt.subplots(1, len(perf), figsize=(4 * len(perf), 3), squeeze=False)
        for ax, (tid, (ratios, limit)) in zip(axes[0], sorted(perf.items())):
            ax.hist(ratios, bins=20, color="#76b7b2", edgecolor="white")
            if limit is not None:
                ax.axvline(limit, color="#e15759", linestyle="--", label=f"limit {limit:g}")
                ax.legend()
            ax.set_title(tid)
            ax.set_xlabel("time ratio to the baseline")
        parts.append(_png(fig))
        parts.append(_table(["test", "measured", "median ratio", "max ratio", "limit"],
                            [[tid, str(len(rs)), f"{statistics.median(rs):.2f}",
                              f"{max(rs):.2f}", "" if lim is None else f"{lim:g}"]
                             for tid, (rs, lim) in sorted(perf.items())]))

    # Submissions that did not run to the end.
    bad = sorted((r for r in results if r.status != "graded"), key=lambda r: r.submission)
    parts.append(f"<h2>Errors and timeouts ({len(bad)})</h2>")
    if bad:
        parts.append(_table(["submission", "folder", "status", "reason"],
                            [[r.submission, folders.get(r.submission, ""), r.status,
                              r.reason[:300]] for r in bad]))
    else:
        parts.append("<p>None.</p>")
    return _page(a, parts)


def _page(a: Assignment, parts: list[str]) -> str:
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:0.5em 0 1em}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:90%}"
             "th{background:#f0f0f0}img{max-width:100%}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(a.title)}: class report</title><style>{style}</style>"
            "</head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
