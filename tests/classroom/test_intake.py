"""Intake: zips read safely, Gradescope exports, ids and folder names. No grading here."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest

from grader.classroom import intake

MODULE = "backprop"
SOURCE = "def f(x):\n    return x\n"


def _zip(path, entries: dict[str, bytes | str], symlinks: dict[str, str] | None = None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def _one(path):
    subs = intake.collect([path], MODULE)
    assert len(subs) == 1
    return subs[0]


@pytest.mark.parametrize("name", ["backprop.py", "alice/backprop.py"])
def test_zip_module_at_top_or_in_one_folder(tmp_path, name):
    z = _zip(tmp_path / "alice.zip", {name: SOURCE, "__MACOSX/alice/._backprop.py": b"\0\1",
                                      "alice/notes.txt": "hi"})
    s = _one(z)
    assert (s.id, s.source, s.error) == ("alice", SOURCE, None)


def test_zip_notebook(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SOURCE), nbformat.v4.new_code_cell("f(3)")]
    z = _zip(tmp_path / "bob.zip", {"bob/backprop.ipynb": nbformat.writes(nb)})
    s = _one(z)
    assert s.error is None and "def f(x)" in s.source and "f(3)" not in s.source


@pytest.mark.parametrize("bad, why", [
    ("../backprop.py", "'..'"),
    ("alice/../../etc/backprop.py", "'..'"),
    ("/tmp/backprop.py", "absolute path"),
    ("C:/backprop.py", "absolute path"),
])
def test_zip_path_traversal_refused(tmp_path, bad, why):
    z = _zip(tmp_path / "eve.zip", {"backprop.py": SOURCE, bad: SOURCE})
    s = _one(z)
    assert s.source is None and "refused" in s.error and why in s.error, s.error


def test_zip_symlink_refused(tmp_path):
    z = _zip(tmp_path / "eve.zip", {"notes.txt": "x"}, symlinks={"backprop.py": "/etc/passwd"})
    s = _one(z)
    assert s.source is None and "symbolic link" in s.error, s.error


def test_zip_bomb_refused_by_declared_size(tmp_path):
    z = _zip(tmp_path / "eve.zip", {"backprop.py": "#" * (intake.MAX_SOURCE_BYTES + 1)})
    assert z.stat().st_size < 50_000  # small on disk, big when expanded
    s = _one(z)
    assert s.source is None and str(intake.MAX_SOURCE_BYTES) in s.error, s.error


def test_zip_bomb_refused_by_total_declared_size(tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "MAX_ZIP_TOTAL", 100_000)
    z = _zip(tmp_path / "eve.zip", {"backprop.py": SOURCE, "data.bin": b"\0" * 200_000})
    s = _one(z)
    assert s.source is None and "expands to" in s.error, s.error


def test_zip_lying_header_is_counted(tmp_path, monkeypatch):
    """Reading stops at the limit by counting bytes produced, not by trusting the header
    (zipfile itself also stops at the declared size and then fails the CRC check)."""
    z = _zip(tmp_path / "eve.zip", {"backprop.py": "#" * 1000})
    monkeypatch.setattr(intake, "MAX_SOURCE_BYTES", 100)
    with zipfile.ZipFile(z) as zf, pytest.raises(intake._ZipRefused, match="past 100"):
        intake._read_member(zf, zf.getinfo("backprop.py"))


def test_zip_patched_header_gives_an_error_not_a_crash(tmp_path):
    """A central directory claiming fewer bytes than the data holds: a clear error."""
    z = _zip(tmp_path / "eve.zip", {"backprop.py": "x = 1\n" * 50_000})
    raw = bytearray(z.read_bytes())
    real = (300_000).to_bytes(4, "little")
    for start in range(len(raw)):  # patch every uncompressed-size field
        if raw[start:start + 4] == real:
            raw[start:start + 4] = (40).to_bytes(4, "little")
    z.write_bytes(bytes(raw))
    s = _one(z)
    assert s.source is None and s.error, s.error


def test_zip_too_many_entries_and_garbage(tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "MAX_ZIP_ENTRIES", 5)
    z = _zip(tmp_path / "eve.zip", {f"f{i}.txt": "x" for i in range(6)})
    assert "entries" in _one(z).error
    g = tmp_path / "mallory.zip"
    g.write_bytes(b"PK\3\4 not really a zip")
    assert "not a readable zip" in _one(g).error


def test_zip_missing_or_ambiguous_module(tmp_path):
    z = _zip(tmp_path / "a.zip", {"other.py": SOURCE, "deep/er/backprop.py": SOURCE})
    assert "no backprop.py" in _one(z).error
    z = _zip(tmp_path / "b.zip", {"x/backprop.py": SOURCE, "y/backprop.py": SOURCE})
    assert "several" in _one(z).error


def test_folder_of_mixed_entries(tmp_path):
    cls = tmp_path / "class"
    (cls / "carol").mkdir(parents=True)
    (cls / "carol" / "backprop.py").write_text(SOURCE)
    (cls / "dave.py").write_text(SOURCE)
    _zip(cls / "erin.zip", {"backprop.py": SOURCE})
    _zip(cls / "eve.zip", {"../backprop.py": SOURCE})
    # Not submissions: skipped with a notice, never graded as a 0-point student.
    (cls / "notes.txt").write_text("hello")
    (cls / ".DS_Store").write_bytes(b"\0")
    (cls / "__MACOSX").mkdir()
    skipped: list[str] = []
    subs = {s.id: s for s in intake.collect([cls], MODULE, skipped=skipped)}
    assert sorted(subs) == ["carol", "dave", "erin", "eve"]
    assert all(subs[k].source == SOURCE for k in ("carol", "dave", "erin"))
    assert subs["eve"].error
    assert [line.split(":")[0] for line in skipped] == \
        [str(cls / n) for n in (".DS_Store", "__MACOSX", "notes.txt")]
    assert "not a submission" in skipped[-1] and "hidden" in skipped[0]
    # named on the command line, the same file is an error result (it was meant)
    (only,) = intake.collect([cls / "notes.txt"], MODULE)
    assert only.error and "expected a folder" in only.error


def test_a_folder_of_nothing_but_non_submissions(tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "notes.txt").write_text("hello")
    with pytest.raises(intake.IntakeError, match="no submissions"):
        intake.collect([cls], MODULE)


GS_META = """
submission_101:
  :submitters:
  - :name: Alice Smith
    :sid: '1'
    :email: alice@example.edu
  :created_at: 2024-01-01 10:00:00.000000000 -08:00
  :score: 0.0
submission_102:
  :submitters:
  - :name: Bob Jones
    :email: bob@example.edu
  - :name: Carol Wu
    :email: carol@example.edu
submission_103:
  :submitters:
  - :name: Dave
"""


def test_gradescope_export(tmp_path):
    root = tmp_path / "export"
    for n in (101, 102, 103, 104):
        (root / f"submission_{n}").mkdir(parents=True)
    (root / "submission_metadata.yml").write_text(GS_META)
    (root / "submission_101" / "backprop.py").write_text(SOURCE)
    _zip(root / "submission_102" / "upload.zip", {"hw/backprop.py": SOURCE})
    (root / "submission_103" / "backprop.py").write_text(SOURCE)
    subs = {s.id: s for s in intake.collect([root], MODULE)}
    assert sorted(subs) == ["Dave", "alice@example.edu", "bob@example.edu+carol@example.edu",
                            "submission_104"]
    assert subs["alice@example.edu"].source == SOURCE
    assert subs["bob@example.edu+carol@example.edu"].source == SOURCE
    assert "no backprop.py" in subs["submission_104"].error
    # a group: one submission, graded once, with its members for one gradebook row each
    assert subs["bob@example.edu+carol@example.edu"].members == \
        ["bob@example.edu", "carol@example.edu"]
    assert subs["alice@example.edu"].members is None
    names = intake.safe_names(list(subs))
    assert names["alice@example.edu"] == "alice@example.edu"


def test_gradescope_bad_metadata(tmp_path):
    root = tmp_path / "export"
    (root / "submission_1").mkdir(parents=True)
    (root / "submission_metadata.yml").write_text("- just\n- a list\n")
    with pytest.raises(intake.IntakeError, match="mapping"):
        intake.collect([root], MODULE)


def test_safe_names_distinct_and_safe():
    ids = ["a/b", "a_b", "..", "x" * 200, "A_B"]
    names = intake.safe_names(ids)
    assert len({n.lower() for n in names.values()}) == len(ids)
    assert all("/" not in n and not n.startswith(".") and len(n) < 100 for n in names.values())


def test_read_zip_from_bytes_like_upload(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("backprop.py", SOURCE.encode("utf-8-sig"))
    (tmp_path / "z.zip").write_bytes(buf.getvalue())
    assert intake.read_zip(tmp_path / "z.zip", MODULE) == (SOURCE, None)


# ---------------------------------------------------------------------------- issue 14
def test_symlink_entry_leading_outside_is_refused(tmp_path):
    """A folder entry linking to a folder outside the submissions folder was followed and
    graded: it scored whatever that folder held."""
    outside = tmp_path / "elsewhere" / "solution"
    outside.mkdir(parents=True)
    (outside / "backprop.py").write_text("x = 1\n")
    cls = tmp_path / "class"
    (cls / "alice").mkdir(parents=True)
    (cls / "alice" / "backprop.py").write_text("y = 2\n")
    (cls / "mallory").symlink_to(outside, target_is_directory=True)
    (cls / "mallory2.py").symlink_to(outside / "backprop.py")
    (cls / "alias").symlink_to(cls / "alice", target_is_directory=True)  # stays inside
    subs = {s.id: s for s in intake.collect([cls], "backprop")}
    assert subs["alice"].source == "y = 2\n"
    for sid in ("mallory", "mallory2"):
        assert subs[sid].source is None
        assert "symbolic link leading outside" in subs[sid].error
    assert subs["alias"].source == "y = 2\n"


def test_parser_exhaustion_in_a_notebook_is_that_entrys_problem(tmp_path):
    """20 KB of nested expressions made ast.parse raise MemoryError at intake (only
    SyntaxError was caught) and nobody was graded."""
    import json

    cells = [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
              "source": src} for src in ("def f():\n    return 1\n", "x = " + "-" * 20000 + "1\n")]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "deep.ipynb").write_text(json.dumps(nb))
    (cls / "fine.py").write_text("z = 3\n")
    subs = {s.id: s for s in intake.collect([cls], "backprop")}
    assert subs["fine"].source == "z = 3\n"
    assert "def f()" in subs["deep"].source and "does not parse" in subs["deep"].source


def test_an_entry_that_raises_while_read_gets_an_error(tmp_path, monkeypatch):
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "a.py").write_text("a = 1\n")
    (cls / "b.py").write_text("b = 1\n")
    real = intake._one

    def flaky(path, module, sid, *rest):
        if sid == "a":
            raise MemoryError("simulated")
        return real(path, module, sid, *rest)

    monkeypatch.setattr(intake, "_one", flaky)
    subs = {s.id: s for s in intake.collect([cls], "backprop")}
    assert subs["a"].source is None and "MemoryError" in subs["a"].error
    assert subs["b"].source == "b = 1\n"


# ---------------------------------------------------------------------------- which file


def _stub_and_reference():
    from tests.conftest import ROOT

    stub = (ROOT / "assignments" / MODULE / f"{MODULE}.py").read_text()
    ref = (ROOT / "reference" / MODULE / f"{MODULE}.py").read_text()
    return stub, ref


def _notebook(code: str) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# backprop"), nbformat.v4.new_code_cell(code)]
    return nbformat.writes(nb)


def test_untouched_stub_is_told_from_work():
    stub, ref = _stub_and_reference()
    assert intake.untouched(stub, stub)
    assert intake.untouched("# my notes\nimport math\n" + stub.replace("\n\n\n", "\n\n"), stub)
    assert not intake.untouched(ref, stub)
    one_done = stub.replace('raise NotImplementedError("relu_forward")',
                            "return x.clamp(min=0), x")  # one function done is work
    assert one_done != stub
    assert not intake.untouched(one_done, stub)
    assert not intake.untouched("def f(:\n", stub)


def test_folder_with_the_stub_and_a_filled_notebook_grades_the_notebook(tmp_path):
    stub, ref = _stub_and_reference()
    d = tmp_path / "alice"
    d.mkdir()
    (d / f"{MODULE}.py").write_text(stub)  # the released folder, untouched
    (d / f"{MODULE}.ipynb").write_text(_notebook(ref))
    sub = intake.collect([tmp_path], MODULE, stub)[0]
    assert sub.error is None and "def linear_forward" in sub.source
    assert intake.untouched(sub.source, stub) is False
    assert sub.origin.endswith(f"{MODULE}.ipynb")
    assert sub.note == f"graded {MODULE}.ipynb; {MODULE}.py is the untouched stub"
    # the other way round: the .py filled, the notebook untouched
    (d / f"{MODULE}.py").write_text(ref)
    (d / f"{MODULE}.ipynb").write_text(_notebook(stub))
    sub = intake.collect([tmp_path], MODULE, stub)[0]
    assert sub.origin.endswith(f"{MODULE}.py") and sub.source == ref and "untouched" in sub.note
    # both filled: refused, naming both
    (d / f"{MODULE}.ipynb").write_text(_notebook(ref))
    sub = intake.collect([tmp_path], MODULE, stub)[0]
    assert sub.source is None
    assert sub.error.startswith(f"{MODULE}.py and {MODULE}.ipynb both hold work"), sub.error
    # both untouched: the .py ("not attempted" follows)
    (d / f"{MODULE}.py").write_text(stub)
    (d / f"{MODULE}.ipynb").write_text(_notebook(stub))
    sub = intake.collect([tmp_path], MODULE, stub)[0]
    assert sub.source == stub and sub.error is None


def test_zipped_released_folder_with_a_filled_notebook(tmp_path):
    stub, ref = _stub_and_reference()
    z = _zip(tmp_path / "bob.zip", {f"{MODULE}/{MODULE}.py": stub,
                                    f"{MODULE}/{MODULE}.ipynb": _notebook(ref),
                                    f"{MODULE}/README.md": "handout"})
    sub = intake.collect([z], MODULE, stub)[0]
    assert sub.error is None and not intake.untouched(sub.source, stub)
    assert f"graded {MODULE}/{MODULE}.ipynb" in sub.note


def test_untouched_without_the_stub_text():
    stub, ref = _stub_and_reference()
    assert intake.untouched(stub) and not intake.untouched(ref)
    assert not intake.untouched(stub + "\n\ndef helper(x):\n    return x\n")
    d_stub, d_ref = ("x.py", stub, None), ("x.ipynb", ref, None)
    assert intake.choose([d_stub, d_ref])[1] == ref
