"""Turning results into files and text: grades.csv, results.json, feedback, tables.

Pure functions from SubmissionResult to strings/dicts, plus atomic writers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from grader.engine.results import PRINTED_HEADER, SubmissionResult, TestResult


def num(x: float) -> float | int:
    """A score as a person writes it: 3 not 3.0, 2.6667 not 2.666666."""
    return int(x) if float(x).is_integer() else round(x, 4)


def test_name(t: TestResult) -> str:
    """Gradescope's test name: the id, then the description (readers split on ': ')."""
    return t.id + (f": {t.description}" if t.description else "")


def results_json(r: SubmissionResult, meta: dict | None = None) -> dict:
    """The Gradescope results schema, plus dlgrade's own fields (and `meta`'s)."""
    return {
        "score": num(r.score),
        "execution_time": r.execution_time,
        "output": (f"{r.status}: {r.reason}" if r.reason else
                   f"{num(r.score)} / {num(r.max_score)} points"),
        "tests": [
            {
                "name": test_name(t),
                "score": num(t.points),
                "max_score": num(t.max_points),
                "status": "passed" if t.passed else "failed",
                "output": t.output,
                "visibility": "visible" if t.visibility == "public" else "after_published",
                **({"extra_data": t.extra} if t.extra else {}),
            }
            for t in r.tests
        ],
        "submission": r.submission,
        "assignment": r.assignment,
        "max_score": num(r.max_score),
        "status": r.status,
        "seed": r.seed,
        "sandbox": r.sandbox,
        "spec_digest": r.spec_digest,
        "source_digest": r.source_digest,
        **(meta or {}),
    }


class ResultsFormatError(ValueError):
    """A results.json that is not one this module wrote (corrupt, partial, foreign)."""


def _split_name(name: str, known: set[str]) -> tuple[str, str]:
    """(test id, description) from what `test_name` wrote."""
    if name in known or ": " not in name:
        return name, ""
    tid, description = name.split(": ", 1)
    return tid, description


def result_from_json(data, kinds: dict[str, str] | None = None) -> SubmissionResult:
    """Read back what `results_json` wrote. `kinds` maps test ids to their kind (the
    spec's); raises ResultsFormatError on anything else."""
    kinds = kinds or {}
    try:
        if not isinstance(data, dict) or not isinstance(data["tests"], list):
            raise ResultsFormatError("not a results object")
        tests = []
        for t in data["tests"]:
            tid, description = _split_name(str(t["name"]), set(kinds))
            vis = {"visible": "public", "after_published": "hidden"}[t["visibility"]]
            extra = t.get("extra_data", {})
            if not isinstance(extra, dict):
                raise ResultsFormatError("extra_data is not an object")
            output = t["output"]
            if not isinstance(output, str) or t["status"] not in ("passed", "failed"):
                raise ResultsFormatError("bad test entry")
            tests.append(TestResult(
                id=tid, points=float(t["score"]), max_points=float(t["max_score"]),
                visibility=vis, kind=kinds.get(tid, ""), passed=t["status"] == "passed",
                output=output, not_attempted=output == "not attempted", extra=dict(extra),
                description=description))
        status = str(data["status"])
        out = str(data.get("output", ""))
        prefix = f"{status}: "
        reason = out[len(prefix):] if status != "graded" and out.startswith(prefix) else ""
        return SubmissionResult(
            submission=str(data["submission"]), assignment=str(data["assignment"]),
            score=float(data["score"]), max_score=float(data["max_score"]), status=status,
            reason=reason, tests=tests, seed=str(data["seed"]), sandbox=str(data["sandbox"]),
            execution_time=float(data["execution_time"]),
            spec_digest=str(data["spec_digest"]), source_digest=str(data["source_digest"]))
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, ResultsFormatError):
            raise
        raise ResultsFormatError(f"{type(e).__name__}: {e}") from None


def read_results(path: Path, kinds: dict[str, str] | None = None) -> tuple[SubmissionResult,
                                                                            dict]:
    """Parse a results.json; ResultsFormatError when it is unreadable or not ours."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsFormatError(f"{path}: {e}") from None
    return result_from_json(data, kinds), data


def feedback_text(r: SubmissionResult, title: str = "") -> str:
    """A readable report for the student: public tests in detail, hidden ones pass/fail."""
    lines = [f"{title or r.assignment}: {num(r.score)} / {num(r.max_score)} points"]
    if r.status != "graded":
        lines.append(f"status: {r.status}: {r.reason}")
    lines.append("")
    for t in r.tests:
        mark = "PASS" if t.passed else "FAIL"
        where = "" if t.visibility == "public" else " (hidden)"
        lines.append(f"[{mark}] {t.id}{where}: {num(t.points)} / {num(t.max_points)}")
        if not t.passed or t.visibility == "public":
            lines.extend("    " + line for line in t.output.splitlines())
    return "\n".join(lines) + "\n"


GRADES_COLUMNS = ["submission", "score", "max_score", "status", "folder"]
"""grades.csv's first columns; one column per test id follows, holding its points."""


def _rows(results: list[SubmissionResult], members: dict[str, list[str]] | None):
    """(row id, result) sorted by row id: a group's result once per member."""
    members = members or {}
    rows = [(m, r) for r in results for m in (members.get(r.submission) or [r.submission])]
    return sorted(rows, key=lambda x: x[0])


def grades_csv(results: list[SubmissionResult], test_ids: list[str],
               folders: dict[str, str] | None = None,
               members: dict[str, list[str]] | None = None) -> str:
    """The gradebook: one row per submission (per member, for a group whose members
    `members` lists), `folder` naming its folder of results.json and feedback.txt."""
    folders = folders or {}
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    w.writerow([*GRADES_COLUMNS, *test_ids])
    for sid, r in _rows(results, members):
        by_id = {t.id: t.points for t in r.tests}
        w.writerow([sid, num(r.score), num(r.max_score), r.status,
                    folders.get(r.submission, ""),
                    *[num(by_id.get(t, 0.0)) for t in test_ids]])
    return buf.getvalue()


CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def canvas_csv(results: list[SubmissionResult], column: str, max_score: float,
               members: dict[str, list[str]] | None = None) -> str:
    """A gradebook Canvas imports (Grades > Import): its five student columns, then one
    assignment column `column` ("Name (canvas id)" to post into an existing Canvas
    assignment; a plain name creates one), and a "Points Possible" row.

    dlgrade knows each student by their submission id (an e-mail address for a Gradescope
    export), so `Student` and `SIS Login ID` hold that id, and `ID`, `SIS User ID` and
    `Section` are left for the TA: Canvas matches a row by ID, else SIS User ID, else SIS
    Login ID, and lists on import the rows it could not match."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*CANVAS_COLUMNS, column])
    w.writerow(["    Points Possible", "", "", "", "", num(max_score)])
    for sid, r in _rows(results, members):
        w.writerow([sid, "", "", sid, "", num(r.score)])
    return buf.getvalue()


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file.

    Text that UTF-8 cannot encode (a lone surrogate in a worker's exception message, or in
    an id taken from a file name that is not UTF-8) is written as "?": one such character
    once made writing feedback.txt raise and stopped the class run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out.extend(fmt.format(*map(str, row)) for row in rows)
    return "\n".join(line.rstrip() for line in out)


def check_table(r: SubmissionResult) -> str:
    """What `dlgrade check` prints: one row per public test, then the failures."""
    rows = []
    details = []
    for t in r.tests:
        first = t.output.splitlines()[0] if t.output else ""
        rows.append([t.id, f"{num(t.points)}/{num(t.max_points)}",
                     "passed" if t.passed else ("not attempted" if t.not_attempted else "FAILED"),
                     first if not t.passed else ""])
        if not t.passed and not t.not_attempted and len(t.output.splitlines()) > 1:
            details.append(f"{t.id}:\n" + "\n".join(t.output.splitlines()[1:]))
        elif t.passed and PRINTED_HEADER in t.output:
            details.append(f"{t.id}:\n" + t.output[t.output.index(PRINTED_HEADER):])
    out = table(rows, ["test", "points", "result", "why"])
    if details:
        out += "\n\n" + "\n\n".join(details)
    passed = sum(t.passed for t in r.tests)
    out += (f"\n\n{passed}/{len(r.tests)} public tests passed, "
            f"{num(r.score)}/{num(r.max_score)} points")
    if r.status != "graded":
        out += f"\n{r.status}: {r.reason}"
    return out


def gradebook_table(results: list[SubmissionResult]) -> str:
    rows = [[r.submission, f"{num(r.score)}/{num(r.max_score)}", r.status,
             (r.reason or _first_failure(r))[:70]]
            for r in sorted(results, key=lambda r: r.submission)]
    return table(rows, ["submission", "score", "status", "note"])


def _first_failure(r: SubmissionResult) -> str:
    failed = [t for t in r.tests if not t.passed]
    if not failed:
        return "all tests passed"
    if all(t.not_attempted for t in failed):
        return "not attempted" if len(failed) == len(r.tests) else \
            f"{len(failed)} tests not attempted"
    t = next(t for t in failed if not t.not_attempted)
    return f"{len(failed)} failed; first: {t.id}: {t.output.splitlines()[-1].strip()}"


def write_submission(out_dir: Path, folder: str, r: SubmissionResult, title: str = "",
                     meta: dict | None = None) -> None:
    d = out_dir / folder
    write_atomic(d / "feedback.txt", feedback_text(r, title))
    # results.json last: its presence marks the submission as done (resume relies on it).
    write_atomic(d / "results.json", json.dumps(results_json(r, meta), indent=2) + "\n")
