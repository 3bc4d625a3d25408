"""Finding submissions: what a TA points `dlgrade grade` at.

A SUBMISSION argument is one of

- a folder holding the module file (one student), a `.py`, a `.ipynb` or a `.zip`;
- a folder of those (one per student): an entry's name without extension is its id;
- a Gradescope "export submissions" folder: it holds `submission_metadata.yml` and one
  `submission_<n>/` folder per submission. The id is the submitters' e-mail addresses
  (joined by `+` for a group), else their names, else the folder's name.

Each becomes a `Submission` with an id and either its source text or the reason it cannot
be graded (that student gets an error result; the rest of the class is graded).

Zips are read in memory, never extracted: an archive with an entry that leaves it (`../`,
an absolute path), a symbolic link, too many entries or more declared bytes than the
limits is refused as a whole, and the module file is read with a byte counter, since the
sizes in a zip's headers can lie.
"""

from __future__ import annotations

import ast
import hashlib
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from grader.classroom import notebook
from grader.engine import syntax

MAX_SOURCE_BYTES = 2 * 1024 * 1024
"""The largest module file (or notebook) read, from a folder or from a zip."""
MAX_ZIP_BYTES = 64 * 1024 * 1024
"""The largest zip file opened at all."""
MAX_ZIP_ENTRIES = 2000
MAX_ZIP_TOTAL = 256 * 1024 * 1024
"""The largest total uncompressed size a zip may declare."""
MAX_METADATA_BYTES = 32 * 1024 * 1024
GRADESCOPE_METADATA = "submission_metadata.yml"
_IGNORED_ZIP_DIRS = ("__MACOSX",)


class IntakeError(Exception):
    """The submission paths themselves are unusable (missing, empty)."""


@dataclass
class Submission:
    """One student's work, read on the trusted side."""

    id: str
    origin: str
    """Where it came from (a path), for messages."""
    source: str | None = None
    error: str | None = None
    """Why it cannot be graded; the student gets a zero-score result with this reason."""
    members: list[str] | None = None
    """A group's members (Gradescope metadata listing several submitters), one id each:
    the gradebook gets a row per member."""
    note: str = ""
    """Which file was taken when the submission held several candidates, and why."""

    @property
    def digest(self) -> str:
        data = (self.source if self.source is not None else f"error:{self.error}").encode()
        return hashlib.sha256(data).hexdigest()[:16]


def _decode(raw: bytes, name: str) -> tuple[str | None, str | None]:
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        return None, f"{name} is not UTF-8 text"


def _read_source(path: Path) -> tuple[str | None, str | None]:
    try:
        if path.is_symlink():
            return None, f"{path.name} is a symbolic link; submit the file itself"
        size = path.stat().st_size
        if size > MAX_SOURCE_BYTES:
            return None, f"{path.name} is {size} bytes; the limit is {MAX_SOURCE_BYTES}"
        raw = path.read_bytes()
    except OSError as e:
        return None, f"cannot read {path.name}: {e.strerror}"
    return _decode(raw, path.name)


def _from_notebook(text: str, name: str) -> tuple[str | None, str | None]:
    try:
        return notebook.extract_code(text), None
    except notebook.NotebookError as e:
        return None, f"{name}: {e}"


# ---------------------------------------------------------------------------- several files
def _functions(source: str) -> dict[str, ast.FunctionDef] | None:
    """The top-level functions, or None when the source does not parse."""
    try:
        tree = syntax.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return {n.name: n for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _not_implemented(fn: ast.FunctionDef) -> bool:
    """Whether a function's body is only a docstring and `raise NotImplementedError(...)`,
    as every stub function is."""
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc
    exc = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def untouched(source: str, stub: str | None = None) -> bool:
    """Whether `source` is a stub with none of its functions filled in: every function
    the stub defines is there with the same syntax tree, or (without the stub, e.g. in a
    student's own folder, where the "stub" is their file) every function it defines only
    raises NotImplementedError. Comments, blank lines and the notebook's other cells do
    not count as work."""
    mine = _functions(source)
    if not mine:
        return False
    theirs = _functions(stub) if stub is not None else None
    if theirs:
        return all(name in mine and ast.dump(mine[name]) == ast.dump(tree)
                   for name, tree in theirs.items())
    return all(_not_implemented(fn) for fn in mine.values())


def choose(cands: list[tuple[str, str | None, str | None]], stub: str | None = None,
           ) -> tuple[str, str | None, str | None, str]:
    """Pick the file to grade among (name, source, error) candidates, in order of
    preference (`<module>.py` before `<module>.ipynb`): the only one that is not the
    untouched stub. Returns (name, source, error, note); when several hold work, the error
    names them all (the student must say which one is theirs)."""
    first = cands[0]
    if len(cands) == 1:
        return (*first, "")
    worked = [c for c in cands if c[1] is None or not untouched(c[1], stub)]
    if not worked:
        return (*first, "")
    if len(worked) == 1:
        stubs = [c[0] for c in cands if c is not worked[0]]
        return (*worked[0], (f"graded {worked[0][0]}; {' and '.join(stubs)} "
                             f"{'is' if len(stubs) == 1 else 'are'} the untouched stub"))
    names = " and ".join(c[0] for c in worked)
    return first[0], None, (f"{names} both hold work: keep only the file to be graded "
                            f"(or make the other the untouched stub)"), ""


def stub_source(assignment) -> str | None:
    """The released stub of an assignment (grader.engine.spec.Assignment), if at hand."""
    try:
        return (assignment.directory / f"{assignment.module}.py").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------------------- zips
def _unsafe_entry(info: zipfile.ZipInfo) -> str | None:
    """Why an entry is refused, or None."""
    name = info.filename
    if "\x00" in name:
        return "a name with a NUL byte"
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in parts:
        return "a path outside the archive ('..')"
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):
        return "a symbolic link"
    return None


def _zip_candidates(infos: list[zipfile.ZipInfo], module: str) -> list[zipfile.ZipInfo]:
    """`<module>.py` (else `.ipynb`) at the top or inside one top-level folder; the
    shallowest of each kind (see _zip_notebook_too for a `.ipynb` beside the `.py`)."""
    found: dict[str, list[zipfile.ZipInfo]] = {".py": [], ".ipynb": []}
    for info in infos:
        if info.is_dir():
            continue
        p = PurePosixPath(info.filename)
        if p.parts[0] in _IGNORED_ZIP_DIRS or p.name.startswith("._") or len(p.parts) > 2:
            continue
        if p.stem == module and p.suffix in found:
            found[p.suffix].append(info)
    for suffix in (".py", ".ipynb"):
        if found[suffix]:
            # The shallowest wins; two at the same depth are ambiguous (caller reports).
            depth = min(len(PurePosixPath(i.filename).parts) for i in found[suffix])
            return [i for i in found[suffix] if len(PurePosixPath(i.filename).parts) == depth]
    return []


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read one entry, counting the bytes actually produced (headers can lie)."""
    out = bytearray()
    with zf.open(info) as f:
        while chunk := f.read(64 * 1024):
            out += chunk
            if len(out) > MAX_SOURCE_BYTES:
                raise _ZipRefused(f"{info.filename} expands past {MAX_SOURCE_BYTES} bytes")
    return bytes(out)


class _ZipRefused(Exception):
    pass


def read_zip(path: Path, module: str, stub: str | None = None,
             notes: list[str] | None = None) -> tuple[str | None, str | None]:
    """The module's source from a student's zip, or why it cannot be had. With `stub`,
    a `.py` and a `.ipynb` side by side are told apart (see `choose`); its note is
    appended to `notes`."""
    notes = [] if notes is None else notes
    name = path.name
    try:
        if path.is_symlink():
            return None, f"{name} is a symbolic link; submit the file itself"
        size = path.stat().st_size
        if size > MAX_ZIP_BYTES:
            return None, f"{name} is {size} bytes; the limit for a zip is {MAX_ZIP_BYTES}"
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_ENTRIES:
                return None, (f"{name} has {len(infos)} entries; the limit is "
                              f"{MAX_ZIP_ENTRIES}")
            for info in infos:
                why = _unsafe_entry(info)
                if why:
                    return None, (f"{name} was refused: entry {info.filename[:200]!r} is "
                                  f"{why}; zip only your files")
            declared = sum(i.file_size for i in infos)
            if declared > MAX_ZIP_TOTAL:
                return None, (f"{name} was refused: it expands to {declared} bytes; the "
                              f"limit is {MAX_ZIP_TOTAL}")
            cands = _zip_candidates(infos, module)
            if not cands:
                listed = sorted(i.filename for i in infos if not i.is_dir())[:5]
                return None, (f"no {module}.py in {name} (at the top or in one folder; "
                              f"found: {', '.join(listed) or 'nothing'})")
            if len(cands) > 1:
                return None, (f"{name} holds several {module} files: "
                              f"{', '.join(i.filename for i in cands[:5])}; keep one")
            found = []  # the .py, and a notebook at the same depth (a notebook student's
            for info in [cands[0], *_zip_notebook_too(infos, cands[0], module)]:  # folder)
                if info.file_size > MAX_SOURCE_BYTES:
                    return None, (f"{info.filename} in {name} is {info.file_size} bytes; "
                                  f"the limit is {MAX_SOURCE_BYTES}")
                found.append((info, _read_member(zf, info)))
    except _ZipRefused as e:
        return None, f"{name} was refused: {e}"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
            ValueError, RuntimeError) as e:
        # RuntimeError: encrypted entries; NotImplementedError: unknown compression.
        return None, f"{name} is not a readable zip file: {e}"
    except OSError as e:
        return None, f"cannot read {name}: {e.strerror or e}"
    texts = []
    for info, raw in found:
        text, err = _decode(raw, f"{info.filename} in {name}")
        if text is not None and info.filename.endswith(".ipynb"):
            text, err = _from_notebook(text, f"{info.filename} in {name}")
        texts.append((info.filename, text, err))
    _, text, err, note = choose(texts, stub)
    if note:
        notes.append(note)
    return text, err


def _zip_notebook_too(infos, chosen: zipfile.ZipInfo, module: str) -> list[zipfile.ZipInfo]:
    """`<module>.ipynb` beside the chosen `<module>.py` (the released folder, zipped by a
    notebook student: the stub is still there)."""
    p = PurePosixPath(chosen.filename)
    if p.suffix != ".py":
        return []
    twin = str(p.with_suffix(".ipynb"))
    return [i for i in infos if i.filename == twin and not i.is_dir()]


# ---------------------------------------------------------------------------- one entry
def _one(path: Path, module: str, sid: str, stub: str | None = None) -> Submission:
    if path.is_dir():
        target = path / f"{module}.py"
        notebook_file = path / f"{module}.ipynb"
        if not target.is_file() and notebook_file.is_file():
            return _one(notebook_file, module, sid)
        if target.is_file() and notebook_file.is_file():
            py, nb = _one(target, module, sid), _one(notebook_file, module, sid)
            name, source, err, note = choose([(target.name, py.source, py.error),
                                              (notebook_file.name, nb.source, nb.error)], stub)
            return Submission(sid, str(path / name), source=source, error=err, note=note)
        if not target.is_file():
            zips = sorted(path.glob("*.zip"))
            if len(zips) == 1:
                return _one(zips[0], module, sid, stub)
            found = sorted(p.name for p in path.iterdir())[:5]
            return Submission(sid, str(path), error=f"no {module}.py in the submission "
                              f"(found: {', '.join(found) or 'nothing'})")
        source, err = _read_source(target)
    elif path.suffix == ".py":
        source, err = _read_source(path)
    elif path.suffix == ".ipynb":
        source, err = _read_source(path)
        if source is not None:
            source, err = _from_notebook(source, path.name)
    elif path.suffix == ".zip":
        notes: list[str] = []
        source, err = read_zip(path, module, stub, notes)
        return Submission(sid, str(path), source=source, error=err, note="; ".join(notes))
    else:
        return Submission(sid, str(path), error=f"{path.name}: expected a folder, a .py file, "
                                                "a .ipynb notebook or a .zip")
    return Submission(sid, str(path), source=source, error=err)


def _entry(path: Path, module: str, sid: str, root: Path,
           stub: str | None = None) -> Submission:
    """One entry of a folder of submissions: refused when it is a symbolic link leading
    outside `root` (one to another folder was followed and graded, scoring whatever that
    folder held); any exception while reading it becomes this entry's error."""
    try:
        if path.is_symlink():
            target = path.resolve()
            if not _is_within(target, root.resolve()):
                return Submission(sid, str(path), error=(
                    f"{path.name} is a symbolic link leading outside {root} (to {target}); "
                    "refused: submit the files themselves"))
        return _one(path, module, sid, stub)
    except Exception as e:  # noqa: BLE001 - one unreadable entry never stops the class
        return Submission(sid, str(path), error=f"cannot read {path.name}: "
                          f"{type(e).__name__}: {str(e)[:300]}")


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


# ---------------------------------------------------------------------------- Gradescope
def _field(d: dict, key: str):
    """Gradescope writes Ruby symbols: `:name:` parses as the key ':name'."""
    if not isinstance(d, dict):
        return None
    return d.get(f":{key}", d.get(key))


def gradescope_id(meta, folder: str) -> str:
    """A submission's id from its metadata: e-mails, else names, else the folder name."""
    members = gradescope_members(meta)
    return "+".join(members) if members else folder


def gradescope_members(meta) -> list[str]:
    """The submitters' e-mail addresses (else names), sorted; [] when not every submitter
    has one."""
    people = _field(meta, "submitters") or []
    if not isinstance(people, list):
        people = []
    for key in ("email", "name"):
        values = [str(_field(p, key)).strip() for p in people if _field(p, key)]
        values = [v for v in values if v]
        if values and len(values) == len(people):
            return sorted(values)
    return []


def collect_gradescope(root: Path, module: str, stub: str | None = None) -> list[Submission]:
    """A Gradescope export: `submission_metadata.yml` plus `submission_<n>/` folders."""
    meta_path = root / GRADESCOPE_METADATA
    try:
        if meta_path.stat().st_size > MAX_METADATA_BYTES:
            raise IntakeError(f"{meta_path}: larger than {MAX_METADATA_BYTES} bytes")
        meta = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise IntakeError(f"{meta_path}: cannot read Gradescope's metadata: {e}") from None
    if not isinstance(meta, dict):
        raise IntakeError(f"{meta_path}: expected a mapping of submission folders")
    subs = []
    folders = sorted(e for e in root.iterdir() if e.is_dir() and not e.name.startswith("."))
    for d in folders:
        sid = gradescope_id(meta.get(d.name), d.name)
        sub = _entry(d, module, sid, root, stub)
        members = gradescope_members(meta.get(d.name))
        if len(members) > 1:
            sub.members = members
        subs.append(sub)
    if not subs:
        raise IntakeError(f"no submission folders in the Gradescope export {root}")
    return subs


SUBMISSION_SUFFIXES = (".py", ".ipynb", ".zip")
_NOT_STUDENT_DIRS = ("__MACOSX", "__pycache__")


def _not_a_submission(entry: Path) -> str | None:
    """Why an entry of a class folder cannot be a student's submission, or None."""
    if entry.name.startswith("."):
        return "a hidden entry"
    if entry.is_dir():
        return "not a student's folder" if entry.name in _NOT_STUDENT_DIRS else None
    if entry.suffix.lower() not in SUBMISSION_SUFFIXES:
        return f"not a submission (expected a folder, {', '.join(SUBMISSION_SUFFIXES)})"
    return None


def collect(paths: list[Path], module: str, stub: str | None = None,
            skipped: list[str] | None = None) -> list[Submission]:
    """Expand the command-line paths into submissions, in a stable order.

    `stub`: the released stub's text. A submission holding both `<module>.py` and
    `<module>.ipynb` is graded from the one that is not the untouched stub, or refused
    with a line naming both when both hold work (Submission.note says which was taken).
    Entries of a class folder that cannot be submissions (hidden files, a notes.txt) are
    left out, and a line saying so is appended to `skipped`.
    """
    subs: list[Submission] = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise IntakeError(f"submission path not found: {p}")
        if p.is_dir() and (p / GRADESCOPE_METADATA).is_file():
            subs.extend(collect_gradescope(p, module, stub))
        elif p.is_dir() and not (p / f"{module}.py").exists() \
                and not (p / f"{module}.ipynb").exists():
            entries = []
            for e in sorted(p.iterdir()):
                why = _not_a_submission(e)
                if why is None:
                    entries.append(e)
                elif skipped is not None:
                    skipped.append(f"{e}: skipped, {why}")
            if not entries:
                raise IntakeError(f"no submissions in {p}: the folder is empty"
                                  if not any(p.iterdir()) else
                                  f"no submissions in {p}: no folder, "
                                  f"{', '.join(SUBMISSION_SUFFIXES)} entry")
            subs.extend(_entry(e, module, e.stem if e.is_file() else e.name, p, stub)
                        for e in entries)
        else:
            # A lone `<module>.py` is named after its folder (students/alice/backprop.py).
            if p.is_file() and p.stem == module:
                sid = p.resolve().parent.name
            else:
                sid = p.stem if p.is_file() else p.resolve().name
            subs.append(_entry(p, module, sid, p, stub))  # named by the TA: followed as given
    return _distinct(subs)


def _distinct(subs: list[Submission]) -> list[Submission]:
    """Two entries with the same id (alice.py and alice.zip) get -2, -3 suffixes."""
    seen: dict[str, int] = {}
    for s in subs:
        n = seen.get(s.id, 0) + 1
        seen[s.id] = n
        if n > 1:
            s.id = f"{s.id}-{n}"
    return subs


_SAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def safe_names(ids: list[str]) -> dict[str, str]:
    """Folder names for ids: safe characters only, distinct, never '.', '..' or hidden."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for sid in ids:
        name = _SAFE.sub("_", sid)[:80].lstrip(".") or "submission"
        if name != sid or name.lower() in used:
            name = f"{name}-{hashlib.sha256(sid.encode()).hexdigest()[:8]}"
        while name.lower() in used:
            name += "_"
        used.add(name.lower())
        out[sid] = name
    return out
