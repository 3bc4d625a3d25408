"""The uid killer: ends every process of a worker's uid, and nothing else."""

from __future__ import annotations

import os
import signal
import time

import pytest

from grader.boundary import sandbox, uidkill

needs_root = pytest.mark.skipif(os.getuid() != 0, reason="becoming another uid needs root")
UID = sandbox.SLOT_UID_BASE + 987  # far above what a test's fork server leases


def test_it_kills_only_slot_uids():
    assert uidkill.FIRST_UID == sandbox.SLOT_UID_BASE


def _sleeper(uid: int) -> int:
    """A child that becomes `uid` (and its own session, as a daemon would) and sleeps."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            time.sleep(60)
        finally:
            os._exit(0)
    return pid


def _ended_by_sigkill(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return False


@needs_root
def test_a_request_ends_every_process_of_the_uid_and_spares_others():
    killer = uidkill.start()
    try:
        victims = [_sleeper(UID), _sleeper(UID)]
        bystander = _sleeper(UID + 1)
        time.sleep(0.2)  # they have become their uids
        uidkill.request(killer, UID)
        assert all(_ended_by_sigkill(p) for p in victims)
        assert os.waitpid(bystander, os.WNOHANG) == (0, 0)  # another uid: still running
        uidkill.request(killer, UID + 1)
        assert _ended_by_sigkill(bystander)
    finally:
        killer.close()


@needs_root
def test_a_uid_below_the_slot_range_is_refused():
    killer = uidkill.start()
    try:
        with pytest.raises(OSError, match="refused"):
            uidkill.request(killer, 1000)
        uidkill.request(killer, UID)  # and it still serves
    finally:
        killer.close()


def _children() -> set[int]:
    mine = set()
    for p in os.listdir("/proc"):
        try:
            with open(f"/proc/{p}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                    mine.add(int(p))
        except (OSError, ValueError):
            continue
    return mine


@needs_root
def test_a_gone_killer_is_an_oserror():
    """What the fork server then does: it forks the helpers itself (zygote._kill_uid)."""
    before = _children()
    killer = uidkill.start()
    (pid,) = _children() - before
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    with pytest.raises(OSError):
        uidkill.request(killer, UID)
    killer.close()
