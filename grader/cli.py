"""The `dlgrade` command: a thin layer over the library's functions.

Library code raises its own exceptions; this module turns them into one line on stderr
and an exit status (2 for usage, spec and input errors).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.classroom import intake
from grader.engine import assignments
from grader.engine.spec import SpecError

# Heavy modules (torch and everything importing it) load inside the commands that need
# them, so `dlgrade --help` and `dlgrade list` answer at once.

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit status 2."""


def given(args, *names: str) -> dict:
    """The options among `names` that the user gave. Options whose default belongs to the
    library are declared with `default=argparse.SUPPRESS`, so what is not given is not
    passed, and the library function's own default applies (tests/e2e/test_cli.py checks
    each help text against that default)."""
    return {n: getattr(args, n) for n in names if hasattr(args, n)}


def resolve_device(device: str) -> str:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available here")
    return device


def choose_sandbox(args):
    """The sandbox --sandbox asks for, and why isolation is reduced (None when it is not)."""
    from grader.boundary import sandbox

    try:
        return sandbox.choose(getattr(args, "sandbox", "auto"))
    except RuntimeError as e:
        raise UsageError(str(e)) from None


def announce_sandbox(box, why, student: bool = False) -> None:
    """The warning (on stderr) when isolation is reduced. `student`: for `check`, where the
    code is the student's own, so reduced isolation is a one-line notice, not a warning
    about the reference and other students' files."""
    if student:
        if box.name != "bwrap":
            print(f"notice: your code runs in a separate process with resource limits, "
                  f"without a sandbox ({why}); that is fine for checking your own code",
                  file=sys.stderr)
        return
    warning = box.warning()
    if warning:
        print(f"warning: {warning}" + (f" ({why})" if why else ""), file=sys.stderr)


def make_zygote(args, student: bool = False):
    """The worker fork server under the isolation --sandbox asks for, announced."""
    from grader.boundary import spawn

    box, why = choose_sandbox(args)
    announce_sandbox(box, why, student)
    return spawn.start(box)


def _load(name: str, with_reference: bool):
    from grader import api

    return api.load(name, with_reference=with_reference)


def cmd_list(args) -> int:
    from grader.classroom.report import num, table

    names = assignments.available()
    if not names:
        print("no assignments found under", assignments.project_root() / "assignments")
        return EXIT_OK
    rows = []
    for name in names:
        try:
            a = assignments.load(name)
            public = sum(t.points for t in a.tests if t.visibility == "public")
            rows.append([name, a.title, f"{a.module}.py", f"{len(a.tests)}",
                         f"{num(a.max_score)} ({num(public)} public)"])
        except SpecError as e:
            rows.append([name, f"invalid spec: {e}", "", "", ""])
    print(table(rows, ["assignment", "title", "file", "tests", "points"]))
    return EXIT_OK


def cmd_check(args) -> int:
    # What can refuse the command is checked first, without torch: a wrong path is
    # answered at once, not after a fork server's boot.
    a = assignments.load(args.assignment)
    # No stub text here: in a student's folder the "stub" is their own file; intake
    # then recognizes an untouched stub by its NotImplementedError bodies.
    stub = None
    if args.path:
        path = Path(args.path)
    else:
        path = Path.cwd() / f"{a.module}.py"
        notebook = Path.cwd() / f"{a.module}.ipynb"
        if not path.exists() and notebook.exists():
            path = notebook  # the released notebook, filled in
        elif path.exists() and notebook.exists():
            path = Path.cwd()  # both: intake grades the one that is not the stub
    if not path.exists():
        raise UsageError(f"{path}: file not found (expected your {a.module}.py or "
                         f"{a.module}.ipynb)")
    if path.is_file() and path.suffix.lower() not in intake.SUBMISSION_SUFFIXES:
        raise UsageError(f"{path}: expected your {a.module}.py, {a.module}.ipynb or a "
                         ".zip holding either")
    subs = intake.collect([path], a.module, stub)
    if len(subs) != 1:
        raise UsageError(f"{path}: expected one submission, found {len(subs)}")
    sub = subs[0]
    if sub.error:
        raise UsageError(sub.error)
    # The fork server first: it imports torch while this process imports it (below).
    with make_zygote(args, student=True) as zygote:
        from grader.classroom import report
        from grader.engine import grading

        suite = _load(args.assignment, with_reference=False)
        r = grading.grade_submission(suite, sub.id, sub.source, zygote=zygote, seed=0,
                                     device=resolve_device(args.device),
                                     visibilities=("public",))
    checked = Path(sub.origin)
    print(f"{a.title}: public tests on {checked}" + (f" ({sub.note})" if sub.note else "")
          + "\n")
    print(report.check_table(r))
    return EXIT_OK if r.tests and all(t.passed for t in r.tests) else EXIT_FAILED


def cmd_grade(args) -> int:
    from grader.boundary import spawn
    from grader.classroom import outdir

    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.sandbox == "plain":
        # A plain worker is an ordinary process: fine for a student's own code, but the
        # run-time checks it reports cannot be held to account there (issue 14).
        raise UsageError("--sandbox plain is for checking your own code; grade a class with "
                         "--sandbox bwrap or rlimits (or auto)")
    if args.scheduler and args.executor != "dask":
        raise UsageError("--scheduler needs --executor dask")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    if args.jobs > 1 or args.executor == "dask":
        from grader.classroom import executors  # torch-free

        try:
            executors.timing_slots()
        except ValueError as e:
            raise UsageError(str(e)) from None
    # Everything that can refuse the command without torch is checked before anything
    # heavy starts (a typo answered in a fraction of a second, not after a fork server's
    # boot) and before anything is written: no output folder or secret appears for a
    # command that fails.
    spec = assignments.load(args.assignment)
    reference_dir = assignments.reference_dir(args.assignment)
    if reference_dir is None or not (reference_dir / f"{spec.module}.py").is_file():
        raise UsageError(f"no reference solution for {spec.name} under "
                         f"{assignments.project_root() / 'reference' / spec.name}")
    out = Path(args.out)
    try:
        outdir.check_out_dir(out, args.assignment, args.force)
    except outdir.OutDirError as e:
        raise UsageError(str(e)) from None
    box, why = choose_sandbox(args) if args.executor == "local" else (None, None)
    skipped: list[str] = []
    subs = intake.collect([Path(p) for p in args.submissions], spec.module,
                          intake.stub_source(spec), skipped=skipped)
    # The fork server (one job) or the job processes start now, before this process
    # imports torch (below), so that the imports overlap.
    zygote = executor = None
    if box is not None and args.jobs == 1:
        zygote = spawn.start(box)
    try:
        from grader.classroom import executors  # torch-free: the job processes import it

        if box is not None and args.jobs > 1:
            executor = executors.ProcessExecutor(spec, reference_dir, args.jobs, box)
        from grader import api
        from grader.classroom import report

        device = resolve_device(args.device)
        if box is not None:
            announce_sandbox(box, why)
        for line in skipped:
            print(f"notice: {line}", file=sys.stderr)
        suite = _load(args.assignment, with_reference=True)
        try:
            secret = outdir.resolve_secret(args.secret, out)
        except OSError as e:
            raise UsageError(f"--out {out}: cannot write there: {e.strerror or e}") from None
        if zygote is not None:
            executor = executors.LocalExecutor(suite, args.jobs, zygote=zygote)
        elif executor is None:
            try:
                executor = executors.DaskExecutor(args.scheduler, args.jobs)
            except (RuntimeError, OSError) as e:
                raise UsageError(f"--executor dask: {e}") from None
            warning = executor.warning()
            if warning:
                print(f"warning: {warning}", file=sys.stderr)
        run = api.grade_class(suite, subs, out, secret=secret, device=device,
                              executor=executor, force=args.force, timeout=args.timeout,
                              lms=args.lms)
    finally:
        if executor is not None:
            executor.close()
        if zygote is not None:
            zygote.close()
    print(report.gradebook_table(run.results))
    files = ", ".join(f.name for f in run.files)
    print(f"\n{len(run.results)} submissions in {out}/ ({files}, <folder>/results.json, "
          f"<folder>/feedback.txt): {run.graded} graded now, "
          f"{run.reused} unchanged since an earlier run")
    if run.failed:
        for sid, why in run.failed:
            print(f"error: {sid}: not graded: {why}", file=sys.stderr)
        print(f"{len(run.failed)} submissions could not be graded; rerun the same command "
              "to grade them", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_similarity(args) -> int:
    from grader import api
    from grader.classroom import similarity

    out = Path(args.out)
    try:
        run = api.similarity(args.assignment, args.submissions, out,
                             against=args.against or (), **given(args, "threshold", "jobs"))
    except similarity.SimilarityError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"{out}: cannot write: {e.strerror or e}") from None
    if not run.stub:
        print("warning: the assignment has no stub: nothing was discounted as boilerplate",
              file=sys.stderr)
    for sid, why in sorted(run.errors.items()):
        print(f"warning: {sid}: not compared: {why}", file=sys.stderr)
    flagged = [p for p in run.pairs if p.score >= run.threshold]
    if run.pairs:
        print(similarity.text_table(run.pairs, max(10, min(len(flagged), 50))))
    print(f"\n{run.compared} submissions compared"
          + (f" with {run.against} reference-corpus "
             f"{'entry' if run.against == 1 else 'entries'}" if run.against else "")
          + f": {len(run.pairs)} pairs, {len(flagged)} flagged (score >= "
          f"{run.threshold:.0%}); wrote {run.csv_path} and {run.html_path}")
    return EXIT_OK


def _build(name: str, zygote) -> None:
    """The stub from the reference's markers, then the public fixtures (`build`, `new`)."""
    from grader.authoring import build

    try:
        built = build.build(name, zygote)
    except build.BuildError as e:
        raise UsageError(str(e)) from None
    print(f"{name}: wrote the stub {built.stub} from {built.reference}")
    print(f"{name}: wrote {len(built.fixtures)} public-test fixtures to "
          f"{built.stub.parent / 'fixtures'}")


def cmd_build(args) -> int:
    from grader.boundary.session import Zygote

    with Zygote() as zygote:
        for name in args.assignments:
            _build(name, zygote)
    return EXIT_OK


def cmd_new(args) -> int:
    from grader.authoring import scaffold, verify
    from grader.boundary.session import Zygote

    root = assignments.project_root()
    try:
        written = scaffold.scaffold(args.name, root)
    except scaffold.ScaffoldError as e:
        raise UsageError(str(e)) from None
    for path in written:
        print(f"{args.name}: wrote {path.relative_to(root)}")
    with Zygote() as zygote:
        _build(args.name, zygote)
    print(f"\n{args.name} works now with a sample function pair (scale_forward, "
          f"scale_backward): `dlgrade check {args.name} reference/{args.name}/"
          f"{args.name}.py`, `dlgrade grade`, `dlgrade build`. Replace every line marked "
          f"{scaffold.PLACEHOLDER} and write at least {verify.MIN_MUTANTS} mutants: until "
          f"then `dlgrade release {args.name}` refuses it, one line per missing piece "
          "(docs/authoring.md).")
    return EXIT_OK


def cmd_calibrate(args) -> int:
    from grader.authoring import calibrate

    device = resolve_device(args.device)
    assignments.load(args.assignment)

    def progress(sample, m):
        figure = f"{m.ratio:.2f}x" if m is not None else "not timed"
        print(f"  {sample.test} {sample.source}: {figure} (passed {sample.passed_runs}/"
              f"{sample.runs})", file=sys.stderr, flush=True)

    samples, proposals = calibrate.run(args.assignment, device=device,
                                       **given(args, "rounds", "runs"),
                                       only=args.only, tests=args.test,
                                       graded=args.graded, opcount=not args.no_opcount,
                                       progress=progress)
    if not proposals:
        raise UsageError(f"{args.assignment} has no performance tests")
    print(calibrate.report(args.assignment, device, samples, proposals))
    if args.save and not args.graded and not args.no_opcount:
        out, samples, proposals = calibrate.save(args.assignment, device, samples)
        print("\nwith the saved samples of other sources:\n")
        print(calibrate.report(args.assignment, device, samples, proposals))
        print(f"\nwrote {out}")
    return EXIT_OK


def cmd_bench(args) -> int:
    from grader.authoring import bench

    devices = args.device or (["cpu", "cuda"] if _cuda() else ["cpu"])
    for d in devices:
        resolve_device(d)
    data = bench.run(devices, **given(args, "rounds"), names=args.assignment or None)
    md = bench.markdown(data)
    print(md)
    if not args.no_write:
        j, m = bench.write(data, assignments.project_root() / "docs" / "benchmarks")
        print(f"wrote {j} and {m}")
    return EXIT_OK


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def cmd_release(args) -> int:
    from grader.authoring import release, wheel

    out = Path(args.out)

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        done = release.release(args.assignments, out, **given(args, "secret", "install"),
                               device=resolve_device(args.device),
                               progress=progress, make_zygote=lambda: make_zygote(args))
    except OSError as e:  # e.g. a reserved name in the assignment folder, a full disk
        raise UsageError(f"release: {e}") from None
    except wheel.WheelError as e:
        raise UsageError(f"release: the student wheel: {e}; nothing was written to {out}/") \
            from None
    except release.ReleaseRefused as e:
        for line in e.problems:
            print(f"error: {line}", file=sys.stderr)
        print(f"release refused: verification failed; nothing was written to {out}/",
              file=sys.stderr)
        return EXIT_USAGE
    for r in done:
        print(f"{r.name}: verified ({', '.join(r.summary)})")
        print(f"  student folder  {r.folder}/  (notebook {r.notebook.name})")
        print(f"  student zip     {r.student_zip}  (with the checker {r.wheel})")
        print(f"  Gradescope      {r.autograder_zip}  (holds the secret: instructors only)")
    return EXIT_OK


def version() -> str:
    """The installed distribution's version (a wheel or `pip install -e .`)."""
    from importlib import metadata

    try:
        return metadata.version("dlgrade")
    except metadata.PackageNotFoundError:
        return "unknown (not installed; run from a checkout)"


def _sandbox_option(s) -> None:
    s.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "rlimits", "plain"],
                   help="worker isolation: bwrap (namespaces, read-only filesystem view, "
                        "slot uids, seccomp), rlimits (a forked process with resource limits "
                        "only), plain (a new Python process per worker, no fork server: what "
                        "macOS and Windows get), auto (default: bwrap when it works here, "
                        "plain on macOS and Windows, else rlimits with a warning)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dlgrade",
        description="Grade hand-written deep-learning assignments: sandboxed workers, "
                    "numerical comparison with a reference, performance checks.")
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}",
                   help="show dlgrade's version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("list", help="show the assignments and their points",
                       description="Show every assignment under assignments/ (or the "
                                   "handout folder you are in): its title, the file to "
                                   "write, its tests and points.")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("check", help="student: run the public tests on your file",
                       description="Run an assignment's public tests on your file and show "
                                   "what passes and why. Exit status: 0 all passed, 1 some "
                                   "failed, 2 usage or spec error.")
    s.add_argument("assignment", help="assignment name (see `dlgrade list`)")
    s.add_argument("path", nargs="?", help="your .py file, your filled-in notebook (.ipynb), "
                                           "a .zip or a folder holding either (default: "
                                           "./<module>.py, else ./<module>.ipynb; when both "
                                           "are there, the one that is not the untouched "
                                           "stub)")
    s.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"],
                   help="where your code runs (default: cpu)")
    _sandbox_option(s)
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("grade", help="TA: grade submissions into a gradebook",
                       description="Grade submissions (a folder per student, .py, .ipynb "
                                   "or .zip files, a folder of those, or a Gradescope export) "
                                   "against public and hidden tests. Writes DIR/grades.csv, "
                                   "DIR/report.html and DIR/<id>/results.json and feedback.txt. "
                                   "A rerun into the same DIR grades only what changed. "
                                   "Exit status 0 when every submission was graded; 1 when "
                                   "the grader itself failed on some (their rows say "
                                   "'grader error'; the same command run again grades "
                                   "them).")
    s.add_argument("assignment", help="assignment name (see `dlgrade list`)")
    s.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                   help="a student's folder, .py, .ipynb or .zip file, a folder of those "
                        "(other entries, e.g. notes.txt or hidden files, are skipped with a "
                        "notice), or a Gradescope export")
    s.add_argument("--out", required=True, metavar="DIR", help="output folder")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where submissions run (default: auto = cuda when available)")
    s.add_argument("--secret", help="secret for hidden inputs (default: $DLGRADE_SECRET, "
                                    "else one kept in DIR/.secret)")
    _sandbox_option(s)
    s.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="wall-clock limit per call (default: the spec's, usually 10 s); "
                        "importing a submission may take 3x this (default 30 s)")
    s.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                   help="grade N submissions at a time, in N processes (default 1; with "
                        "--executor dask and no --scheduler: the number of local Dask "
                        "workers)")
    s.add_argument("--force", action="store_true",
                   help="regrade everything, even submissions already graded in DIR; also "
                        "grade into a DIR that holds another assignment's grades")
    s.add_argument("--lms", choices=["canvas"],
                   help="also write DIR/canvas.csv, a gradebook Canvas imports (Grades > "
                        "Import): fill in its ID or SIS Login ID column where the submission "
                        "id is not the student's Canvas login (see README.md)")
    s.add_argument("--executor", default="local", choices=["local", "dask"],
                   help="local: this machine (default); dask: a Dask cluster")
    s.add_argument("--scheduler", metavar="ADDR",
                   help="Dask scheduler address, e.g. tcp://host:8786 (default with "
                        "--executor dask: a local cluster)")
    s.set_defaults(func=cmd_grade)

    s = sub.add_parser("similarity", help="TA: code similarity across a class",
                       description="Compare every pair of submissions (read as `grade` reads "
                                   "them, with the same ids) for shared code, in a way that "
                                   "renamed identifiers, changed comments, whitespace and "
                                   "reordered functions do not hide; the stub's own text "
                                   "never counts. Writes DIR/similarity.csv (a,b,score, the "
                                   "shares of each and the matching lines; every pair, most "
                                   "similar first) and DIR/similarity.html (flagged pairs "
                                   "side by side with the matches marked). Exit status 0 "
                                   "when both were written.")
    s.add_argument("assignment", help="assignment name (see `dlgrade list`)")
    s.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                   help="a student's folder, .py, .ipynb or .zip file, a folder of those, "
                        "or a Gradescope export")
    s.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (the one `grade` wrote: report.html then links here)")
    s.add_argument("--against", action="append", metavar="DIR",
                   help="a reference corpus (earlier years' submissions, known public "
                        "solutions), read like SUBMISSION: each submission is compared with "
                        "its entries too, reported apart (kind 'against'); repeatable")
    s.add_argument("--threshold", type=float, default=argparse.SUPPRESS, metavar="X",
                   help="flag pairs whose score (the larger share of a submission matched "
                        "by the other) is at least X (default: 0.7); disguised copies of the "
                        "assignments' solutions score 0.85-1, independent solutions at most "
                        "0.5")
    s.add_argument("--jobs", "-j", type=int, default=argparse.SUPPRESS, metavar="N",
                   help="use N processes (default: 1)")
    s.set_defaults(func=cmd_similarity)

    s = sub.add_parser("build", help="instructor: regenerate stubs and public fixtures from "
                                     "the reference",
                       description="Generate assignments/<name>/<module>.py from the "
                                   "reference's solution markers, then run each public test "
                                   "against the reference and save its inputs and expected "
                                   "outputs under assignments/<name>/fixtures/.")
    s.add_argument("assignments", nargs="+", metavar="ASSIGNMENT",
                   help="assignment names (see `dlgrade list`)")
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("new", help="instructor: scaffold a new assignment",
                       description="Write assignments/NAME/ (spec, public tests, handout "
                                   "skeleton) and reference/NAME/ (a solution with markers "
                                   "around a sample function pair, hidden tests, a mutant, a "
                                   "correct variant), then build its stub and fixtures: "
                                   "`list`, `check`, `grade` and `build` work on it at once. "
                                   "`release` refuses it, one line per missing piece, until "
                                   "every TODO(dlgrade new) placeholder is replaced and it "
                                   "has at least 8 mutants. See docs/authoring.md.")
    s.add_argument("name", help="the assignment's name, a lower-case identifier; also the "
                                "student's module name (NAME.py)")
    s.set_defaults(func=cmd_new)

    s = sub.add_parser("calibrate", help="instructor: measure where performance limits go",
                       description="Time the reference and reference/<name>/variants/"
                                   "correct_*.py and naive_*.py with the assignment's "
                                   "performance tests; report each one's ratio and propose "
                                   "a limit per test (the geometric midpoint between the "
                                   "slowest legitimate and the fastest naive ratio).")
    s.add_argument("assignment", help="assignment name (see `dlgrade list`)")
    s.add_argument("--rounds", type=int, default=argparse.SUPPRESS,
                   help="timed rounds per test (default: the spec's)")
    s.add_argument("--runs", type=int, default=argparse.SUPPRESS,
                   help="repeat every test this many times (default: 1)")
    s.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"],
                   help="where the sources run (default: cpu; limits are per device class)")
    s.add_argument("--only", action="append", metavar="SOURCE",
                   help="only this source (reference, correct_x, naive_y); repeatable")
    s.add_argument("--test", action="append", metavar="ID", help="only this test; repeatable")
    s.add_argument("--graded", action="store_true",
                   help="run the tests exactly as grading does (limits enforced, early "
                        "stops) and count passes: the acceptance check for a limit")
    s.add_argument("--no-opcount", action="store_true",
                   help="skip the op-count check (with --graded: does the timing alone "
                        "fail a loop?)")
    s.add_argument("--save", action="store_true",
                   help="write docs/benchmarks/calibrate-<name>-<device>.json (keeping "
                        "the saved samples of sources not measured this time)")
    s.set_defaults(func=cmd_calibrate)

    s = sub.add_parser("bench", help="the performance benchmarks",
                       description="Time each assignment's reference against the native "
                                   "PyTorch op, show the performance limits' separation and "
                                   "the grader's overhead; write docs/benchmarks/.")
    s.add_argument("assignment", nargs="*", help="default: every assignment in the map")
    s.add_argument("--device", action="append", choices=["cpu", "cuda"],
                   help="default: cpu, and cuda when available")
    s.add_argument("--rounds", type=int, default=argparse.SUPPRESS,
                   help="timed rounds per measurement (default: 9)")
    s.add_argument("--no-write", action="store_true",
                   help="print only; do not write docs/benchmarks/")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("release", help="instructor: handout, notebook and Gradescope bundle",
                       description="Verify each assignment (reference 100%, stub 0, every "
                                   "mutant caught, correct variants full marks, fixtures "
                                   "current, performance thresholds), then write DIR/<name>/ "
                                   "(the student folder with its notebook), DIR/<name>.zip "
                                   "and DIR/<name>-autograder.zip (Gradescope). A release "
                                   "that fails verification writes nothing (exit status 2).")
    s.add_argument("assignments", nargs="+", metavar="ASSIGNMENT",
                   help="assignment names (see `dlgrade list`)")
    s.add_argument("--out", required=True, metavar="DIR", help="output folder")
    s.add_argument("--secret", default=argparse.SUPPRESS,
                   help="secret for the Gradescope bundle's hidden inputs (default: a fresh "
                        "random one per assignment)")
    s.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"],
                   help="where verification runs (default: cpu)")
    s.add_argument("--install", default=argparse.SUPPRESS, metavar="PIP_ARGS",
                   help="what the student README and the notebook's first cell pip-install "
                        "instead of the checker's wheel shipped in the student folder, e.g. "
                        "'--index-url https://pypi.example.edu/simple dlgrade' (default: "
                        "the wheel)")
    _sandbox_option(s)
    s.set_defaults(func=cmd_release)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Ids, reasons and messages may hold text UTF-8 cannot encode (a file name that is not
    # UTF-8, a worker's lone surrogate): print it as "?" rather than crash on it.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    try:
        return args.func(args)
    except (UsageError, SpecError, assignments.UnknownAssignment, intake.IntakeError) as e:
        msg = e.args[0] if e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
