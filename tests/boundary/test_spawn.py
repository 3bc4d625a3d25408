"""Workers without the fork server (macOS, Windows: `--sandbox plain`), and the boundary
importing where the Unix-only `resource` module does not exist."""

from __future__ import annotations

import subprocess
import sys

from grader.boundary import sandbox, spawn
from grader.engine import grading
from tests.conftest import ROOT, SECRET, suite

ALICE = (ROOT / "examples" / "backprop-class" / "alice" / "backprop.py").read_text()


def _public(s):
    import dataclasses

    a = s.assignment
    tests = tuple(t for t in a.tests if t.visibility == "public")
    return dataclasses.replace(s, assignment=dataclasses.replace(a, tests=tests))


def test_plain_workers_grade_and_survive_crashes_and_hangs():
    s = _public(suite("backprop"))
    crash = ("import os\ndef linear_forward(x, w, b):\n    os._exit(3)\n"
             "def relu_forward(x):\n    while True:\n        pass\n")
    with spawn.start(sandbox.Sandbox("plain")) as workers:
        assert isinstance(workers, spawn.Spawner)
        good = grading.grade_submission(s, "alice", ALICE, zygote=workers, seed=1,
                                        device="cpu", timeout=20)
        bad = grading.grade_submission(s, "crash", crash, zygote=workers, seed=1,
                                       device="cpu", timeout=2)
        pids = list(workers._procs)
    assert good.sandbox == "plain" and good.score == good.max_score == 4, good
    by_id = {t.id: t for t in bad.tests}
    assert "the worker exited with status 3" in by_id["linear_public"].output
    assert "too slow for the time limit (2 s per call)" in by_id["activations_public"].output
    assert pids and not workers._procs  # every worker process ended and was reaped
    assert SECRET  # the plain worker's environment is clean_env(): no secret to find


def test_auto_chooses_plain_on_macos_and_windows(monkeypatch):
    for platform in ("darwin", "win32"):
        monkeypatch.setattr(sandbox.sys, "platform", platform)
        box, why = sandbox.choose("auto")
        assert box.name == "plain" and platform in why


def test_the_boundary_imports_without_the_resource_module():
    """Windows has no `resource`: importing the sandbox (to choose the isolation) must work."""
    code = ("import sys; sys.modules['resource'] = None\n"
            "import grader.boundary.sandbox, grader.boundary.spawn, grader.cli\n"
            "print(grader.boundary.sandbox.choose('plain')[0].name)")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "plain", p.stderr


def test_a_dead_fork_server_is_revived_once_and_a_live_one_kept():
    server = spawn.start(sandbox.Sandbox("rlimits"))
    try:
        assert spawn.revived(server) is server  # alive: kept
        server.proc.kill()  # as the OOM killer would
        server.proc.wait(timeout=10)
        new = spawn.revived(server)
        try:
            assert new is not server and new.sandbox == server.sandbox
            new.wait_ready()
            assert new.proc.poll() is None
        finally:
            new.close()
    finally:
        server.close()
