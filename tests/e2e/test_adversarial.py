"""The adversarial suite: every hostile submission under tests/adversarial/submissions/,
graded in ONE `dlgrade grade --jobs 2` run next to correct controls.

Checks (tests/adversarial/expected.yaml has the per-submission table): the run exits 0;
every control scores full marks; no attack scores more than its honest score; nothing of
the secret, the reference or the hidden tests appears in any output; nothing outside the
output folder changed; no process started by the run is left.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader.boundary import sandbox

ROOT = Path(__file__).resolve().parents[2]
ADV = ROOT / "tests" / "adversarial"
SECRET = "ADVERSARIAL-SECRET-5b1e9d3c"
CONTROLS = ("control_a", "control_b", "control_c")
FULL = 21
CALL_TIMEOUT = "3"
"""Seconds per call (the import gets three times that). Short, so the hangs cost little;
long enough that an attack which behaves keeps its score on a slow machine: huge_file's
import, 0.2-0.9 s here, once took more than 6 s on CI."""


def _grade(inputs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLGRADE")}
    env.update(PYTHONPATH=str(ROOT), DLGRADE_SECRET=SECRET)
    return subprocess.run(
        [sys.executable, "-m", "grader", "grade", "backprop", str(inputs), "--out", str(out),
         "--timeout", CALL_TIMEOUT, *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    snap = {}
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for f in files + [""]:
                p = os.path.join(dirpath, f)
                st = os.lstat(p)
                snap[p] = (st.st_mtime_ns, st.st_size)
    return snap


def _secret_lines() -> list[str]:
    """Lines of the reference and hidden tests that no student-visible file contains."""
    public = "".join(p.read_text() for p in [
        ROOT / "assignments/backprop/backprop.py", ROOT / "assignments/backprop/public_tests.py",
        *sorted(ROOT.glob("examples/**/*.py")), *sorted((ADV / "submissions").rglob("*.py"))])
    lines = []
    for f in ("reference/backprop/backprop.py", "reference/backprop/hidden_tests.py"):
        for line in (ROOT / f).read_text().splitlines():
            s = line.strip()
            if len(s) >= 24 and s not in public:
                lines.append(s)
    assert len(lines) > 20
    return lines


def _descends_from(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
    seen = set()
    while pid in parents and pid not in seen:
        seen.add(pid)
        pid = parents[pid]
        if pid == ancestor:
            return True
    return False


def _leftover_processes(before: set[int]) -> list[str]:
    """Processes of a slot uid, or any zygote/worker, that were not there before and that
    this test process started. (Another test process of `make test` grades at the same
    time; this one is the subreaper of what it starts, so an orphan of the run is still
    counted as its own: see `adversarial_run`.)"""
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,ppid=,uid=,args="], capture_output=True,
                         text=True)
    rows = [(row, row.split(None, 3)) for row in out.stdout.splitlines()]
    rows = [(row, int(f[0]), int(f[1]), int(f[2]), f[3] if len(f) > 3 else "")
            for row, f in rows if len(f) >= 3]
    parents = {pid: ppid for _, pid, ppid, _, _ in rows}
    left = []
    for row, pid, _, uid, args in rows:
        if pid in before or not _descends_from(pid, os.getpid(), parents):
            continue
        if str(ROOT) in args and (sandbox.SLOT_UID_BASE <= uid < sandbox.SLOT_UID_BASE + 1000
                                  or "grader.boundary.zygote" in args):
            left.append(row)
    return left


def _adopt_orphans() -> None:
    """Make this process the subreaper of what it starts (Linux): a process the run
    leaves behind is then re-parented here, not to init, and `_leftover_processes` sees
    it among this process's descendants."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _pids() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


# Attacks that also answer correctly carry this line instead of a copy of the solution.
MARKER = "# <a correct solution, inserted by tests/e2e/test_adversarial.py>\n"


def _insert_correct_solution(folder: Path) -> None:
    alice = (ROOT / "examples/backprop-class/alice/backprop.py").read_text()
    body = alice[alice.index("def linear_forward"):]
    for p in folder.rglob("*.py"):
        text = p.read_text()
        if MARKER in text:
            p.write_text(text.replace(MARKER, body))


@pytest.fixture(scope="module")
def adversarial_run(tmp_path_factory):
    why = sandbox.probe_bwrap()
    if why is not None:
        pytest.skip(f"the adversarial suite needs the bwrap sandbox: {why}")
    base = tmp_path_factory.mktemp("adv")
    inputs, out, canary = base / "in", base / "out", base / "canary"
    shutil.copytree(ADV / "submissions", inputs)
    _insert_correct_solution(inputs)
    alice = ROOT / "examples/backprop-class/alice/backprop.py"
    for c in CONTROLS:
        (inputs / c).mkdir()
        shutil.copy(alice, inputs / c / "backprop.py")
    # An entry linking to a correct solution outside the submissions folder: refused.
    (base / "outside").mkdir()
    shutil.copy(alice, base / "outside" / "backprop.py")
    (inputs / "symlink_outside").symlink_to(base / "outside", target_is_directory=True)
    canary.mkdir()
    for name in ("results.json", "grades.csv", ".secret", "backprop.py", "feedback.txt"):
        (canary / name).write_text("canary\n")
    watched = (ROOT / "reference", ROOT / "assignments", ROOT / "grader", inputs, canary)
    before = _snapshot(*watched)
    pids = _pids()
    _adopt_orphans()
    # Two at a time, as a TA would grade: the controls keep full marks, performance points
    # included, beside neighbours that hang, spin, flood and crash.
    proc = _grade(inputs, out, "--jobs", "2")
    return dict(proc=proc, out=out, before=before, after=_snapshot(*watched), pids=pids,
                inputs=inputs)


def _results(out: Path) -> dict[str, dict]:
    return {json.loads(p.read_text())["submission"]: json.loads(p.read_text())
            for p in out.glob("*/results.json")}


@pytest.mark.slow
def test_run_completes_and_controls_score_full_marks(adversarial_run):
    proc = adversarial_run["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = _results(adversarial_run["out"])
    expected = yaml.safe_load((ADV / "expected.yaml").read_text())
    assert set(results) == set(expected) | set(CONTROLS)
    assert len(expected) >= 40
    for c in CONTROLS:
        assert results[c]["score"] == FULL, (c, results[c]["output"])
        assert results[c]["status"] == "graded"
    assert {r["sandbox"] for r in results.values()} == {"bwrap"}
    assert "warning" not in proc.stderr


@pytest.mark.slow
def test_no_attack_beats_its_honest_score(adversarial_run):
    results = _results(adversarial_run["out"])
    expected = yaml.safe_load((ADV / "expected.yaml").read_text())
    problems = []
    for name, exp in expected.items():
        r = results[name]
        text = json.dumps(r)
        if r["score"] > exp["max"] + 1e-9:
            problems.append(f"{name}: scored {r['score']} > its honest {exp['max']}")
        if r["score"] < exp.get("min", 0) - 1e-9:
            problems.append(f"{name}: scored {r['score']} < {exp['min']}")
        if "status" in exp and r["status"] != exp["status"]:
            problems.append(f"{name}: status {r['status']}, expected {exp['status']}")
        problems += [f"{name}: {s!r} missing" for s in exp.get("contains", []) if s not in text]
        problems += [f"{name}: {s!r} present" for s in exp.get("absent", []) if s in text]
        hidden = json.dumps([t for t in r["tests"] if t["visibility"] != "visible"])
        problems += [f"{name}: {s!r} in hidden feedback" for s in exp.get("hidden_absent", [])
                     if s in hidden]
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_nothing_secret_in_any_output(adversarial_run):
    out = adversarial_run["out"]
    proc = adversarial_run["proc"]
    texts = {str(p): p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()}
    texts["stdout"], texts["stderr"] = proc.stdout, proc.stderr
    leaks = [(where, line) for line in _secret_lines() + [SECRET]
             for where, text in texts.items() if line in text]
    assert not leaks, leaks[:10]


@pytest.mark.slow
def test_nothing_outside_the_output_folder_changed(adversarial_run):
    before, after = adversarial_run["before"], adversarial_run["after"]
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert not changed, changed[:20]


@pytest.mark.slow
def test_no_process_left_behind(adversarial_run):
    assert not _leftover_processes(adversarial_run["pids"])


FALLBACK = ("patch_torch_allclose", "sys_exit_in_call", "pop_dispatch_mode",
            "computed_getattr_forbidden_op", "fork_bomb", "kill_all", "tamper_silence_reports",
            "thread_escape_forbidden", "autograd_main_thread")


@pytest.mark.slow
def test_forced_rlimits_fallback_warns_and_still_grades(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in FALLBACK:
        shutil.copy(ADV / "submissions" / f"{name}.py", inputs)
    _insert_correct_solution(inputs)
    (inputs / "control").mkdir()
    shutil.copy(ROOT / "examples/backprop-class/alice/backprop.py", inputs / "control")
    proc = _grade(inputs, tmp_path / "out", "--sandbox", "rlimits")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "warning: sandbox: namespaces unavailable" in proc.stderr
    assert "--sandbox rlimits" in proc.stderr
    results = _results(tmp_path / "out")
    assert {r["sandbox"] for r in results.values()} == {"rlimits"}
    assert results["control"]["score"] == FULL
    expected = yaml.safe_load((ADV / "expected.yaml").read_text())
    for name in FALLBACK:
        assert results[name]["score"] <= expected[name]["max"], name
    assert SECRET not in proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["bwrap", "rlimits"])
def test_neighbours_cannot_collude(tmp_path, mode):
    """Issue 14: graded at the same time (--jobs 3), a submission that computes nothing
    had a correct neighbour answer its calls over an abstract unix socket, and copied
    answers through SysV shared memory. Each worker now has IPC and network namespaces of
    its own: the copier scores its honest 0, the provider and the control full marks."""
    if mode == "bwrap" and sandbox.probe_bwrap() is not None:
        pytest.skip(f"no bwrap sandbox: {sandbox.probe_bwrap()}")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("provider", "copier"):
        shutil.copy(ADV / "neighbours" / f"{name}.py", inputs)
    _insert_correct_solution(inputs)
    (inputs / "control").mkdir()
    shutil.copy(ROOT / "examples/backprop-class/alice/backprop.py", inputs / "control")
    proc = _grade(inputs, tmp_path / "out", "--jobs", "3", "--sandbox", mode)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = _results(tmp_path / "out")
    assert results["provider"]["score"] == FULL, results["provider"]["output"]
    assert results["control"]["score"] == FULL
    copier = json.dumps(results["copier"])
    assert results["copier"]["score"] == 0, copier[:2000]
    assert "was not reachable" in copier and "WAS reachable" not in copier
    assert "grades.csv" in {p.name for p in (tmp_path / "out").iterdir()}
