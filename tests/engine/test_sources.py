"""Recorded draws (public-test fixtures) replay exactly, however often they are read."""

import os

import torch

from grader.engine import sources


def record(path, seed):
    rec = sources.Recorder(seed, reference=None)
    rec.begin_case(1)
    rec.draw(lambda g: torch.randn(3, generator=g, dtype=torch.float64))
    rec.save(path, {})
    return rec.groups[1][0][1]


def test_a_replayed_draw_is_a_fresh_copy_every_time(tmp_path):
    path = tmp_path / "fixture.npz"
    drawn = record(path, 1)
    first = sources.Replay(path)
    first.begin_case(1)
    x = first.draw(None)
    assert torch.equal(x, drawn)
    x.add_(1.0)  # a test (or a student's reference-like code) writes to what it got
    again = sources.Replay(path)
    again.begin_case(1)
    assert torch.equal(again.draw(None), drawn)


def test_a_rewritten_fixture_is_read_again(tmp_path):
    path = tmp_path / "fixture.npz"
    record(path, 1)
    old = sources.Replay(path)
    old.begin_case(1)
    before = old.draw(None)
    drawn = record(path, 2)  # rebuilt in place (same path, same size)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    new = sources.Replay(path)
    new.begin_case(1)
    after = new.draw(None)
    assert torch.equal(after, drawn) and not torch.equal(after, before)
