"""The class report: one self-contained `report.html` for the TA.

Score distribution, status counts, pass rate per test, the performance ratios (from
`perf_*` tests' `extra["ratio"]` and `extra["limit"]`: one dot per submission on a log
axis, with the limit), the hardest tests, the submissions that ended in an error or a
timeout with their reasons, and a table of every submission (score, status, the failed
tests, a link to its feedback.txt). Plots are drawn with matplotlib's object API (Agg, no
pyplot) and embedded as base64 PNGs; every piece of text that comes from a submission
(ids, reasons) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from collections import Counter
from urllib.parse import quote

from grader.engine.grading import SubmissionResult
from grader.engine.spec import Assignment


def _num(x: float) -> str:
    return f"{x:g}" if float(x).is_integer() else f"{x:.2f}"


def _figure(**kwargs):
    """A figure of its own: matplotlib's object API renders it with Agg, never touching
    pyplot's global state (the caller's backend, in a notebook, stays as it was; two
    threads may draw at once)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return ('<img alt="plot" src="data:image/png;base64,'
            + base64.b64encode(buf.getvalue()).decode("ascii") + '">')


class _Html(str):
    """Markup built here (a link), inserted into a table cell unescaped."""


def _cell(c) -> str:
    return c if isinstance(c, _Html) else html.escape(str(c))


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _feedback_link(folder: str) -> str:
    if not folder:
        return ""
    href = html.escape(quote(folder) + "/feedback.txt", quote=True)
    return _Html(f'<a href="{href}">{html.escape(folder)}/feedback.txt</a>')


def _strip_plot(ax, ratios: list[float], limit: float | None, title: str) -> None:
    """One dot per submission (jittered sideways so equal ratios stay visible), a box
    behind them when there are enough, the limit as a red line; log axis, since a loop is
    100x slower than a vectorized solution."""
    import random

    rng = random.Random(0)  # the same report for the same results
    xs = [1 + rng.uniform(-0.12, 0.12) for _ in ratios]
    if len(ratios) >= 5:
        ax.boxplot([ratios], positions=[1], widths=0.5, showfliers=False,
                   medianprops={"color": "#333"}, boxprops={"color": "#999"},
                   whiskerprops={"color": "#999"}, capprops={"color": "#999"})
    over = [limit is not None and r > limit for r in ratios]
    ax.scatter(xs, ratios, s=36, alpha=0.8, zorder=3, edgecolors="white", linewidths=0.5,
               c=["#e15759" if o else "#4878a8" for o in over])
    if limit is not None:
        ax.axhline(limit, color="#e15759", linestyle="--", linewidth=1.5,
                   label=f"limit {limit:g}x")
        ax.legend(loc="upper right", fontsize=8)
    positive = [r for r in ratios if r > 0] + ([limit] if limit else [])
    if positive:
        ax.set_yscale("log")
        lo, hi = min(positive), max(positive)
        ax.set_ylim(lo / 2, hi * 2)
    ax.set_xlim(0.4, 1.6)
    ax.set_xticks([])
    ax.set_title(f"{title} ({len(ratios)} timed)", fontsize=10)
    ax.set_ylabel("time / baseline (log)")
    ax.grid(axis="y", which="both", alpha=0.3)


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
    fig = _figure(figsize=(10, 3.2))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
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
        fig = _figure(figsize=(10, 0.3 * len(tests) + 1))
        ax = fig.subplots()
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
        cols = min(4, len(perf))
        rows_n = -(-len(perf) // cols)
        fig = _figure(figsize=(2.8 * cols, 3.4 * rows_n))
        axes = fig.subplots(rows_n, cols, squeeze=False)
        for ax, (tid, (ratios, limit)) in zip(axes.flat, sorted(perf.items())):
            _strip_plot(ax, ratios, limit, tid)
        for ax in list(axes.flat)[len(perf):]:
            ax.set_visible(False)
        fig.tight_layout()
        parts.append("<p>One dot per timed submission (only correct code is timed); red: "
                     "slower than the limit.</p>")
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

    # Every submission, with the way to its feedback.
    parts.append(f"<h2>Submissions ({n})</h2>")
    rows = []
    for r in sorted(results, key=lambda r: r.submission):
        failed = [t.id for t in r.tests if not t.passed]
        note = r.reason[:200] if r.status != "graded" else (
            "all tests passed" if not failed else
            ("not attempted" if all(t.not_attempted for t in r.tests if not t.passed)
             and len(failed) == len(r.tests) else "failed: " + ", ".join(failed)))
        rows.append([r.submission, f"{_num(r.score)} / {_num(r.max_score)}", r.status,
                     note, _feedback_link(folders.get(r.submission, ""))])
    parts.append(_table(["submission", "score", "status", "tests", "feedback"], rows,
                        cls="students"))
    return _page(a, parts)


def _page(a: Assignment, parts: list[str]) -> str:
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:0.5em 0 1em}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:90%}"
             "th{background:#f0f0f0}img{max-width:100%}"
             "table.students td:nth-child(4){max-width:420px;overflow-wrap:anywhere}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(a.title)}: class report</title><style>{style}</style>"
            "</head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
