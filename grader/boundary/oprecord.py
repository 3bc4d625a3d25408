"""The native op recorder: what a call dispatched, for well under a microsecond per op.

`NativeRecorder` records, on the thread that enters it, the name of every operator the
dispatcher runs (`ops`: nested ones too, so torch.lstm_cell shows as "lstm_cell" even
where it decomposes into mm, sigmoid and tanh), the number of ops called from outside
any op (`count`: what a Python loop adds to), and whether autograd took part
(`autograd`: an op on a tensor that requires grad, or a node run by the autograd engine).
It is a thread-local RecordFunction callback in native/oprecord.cpp, loaded with ctypes.

The Python recorders in grader.boundary.worker (a TorchDispatchMode and a
TorchFunctionMode) cost 6-12 us per op, most of a small op's time: on adam's trajectories
they were about 40% of a worker's CPU. They remain the fallback where the library cannot
be built (no C++ compiler): `mode()` says which one this installation uses, and the fork
server reports it, so the trusted side computes its canary expectations the same way.

The library is built once per torch version into grader/boundary/_native/ (`make setup`,
or the first fork server's start: `ensure_built`), where the sandbox sees it read-only.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from functools import lru_cache
from pathlib import Path

SOURCE = Path(__file__).with_name("native") / "oprecord.cpp"
BUILD_DIR = Path(__file__).with_name("_native")
NATIVE, PYTHON = "native", "python"
_NAMES_BYTES = 1 << 12  # a call's names fit, mostly; more are fetched again


def _torch_dir() -> Path:
    # Found without importing torch (1.5 s): the fork server is started, and this library
    # built, before the grader imports it.
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("torch is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def library_path() -> Path:
    """Where the build of this source for this torch lives (one file per torch version and
    source: a virtualenv that upgrades torch, or a checkout that changes the source, builds
    a new one)."""
    source = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    tag = (f"{importlib.metadata.version('torch')}-"
           f"{sysconfig.get_config_var('SOABI') or 'py'}-{source}")
    tag = "".join(c if c.isalnum() or c in "-." else "_" for c in tag)
    return BUILD_DIR / f"oprecord-{tag}.so"


def compile_command(out: Path) -> list[str]:
    """g++ (or $CXX) against torch's own headers and libraries. Linux wheels of torch
    2.x use the C++11 ABI, the compiler's default; a library built for another fails to
    load, and the Python recorders are used."""
    torch_dir = _torch_dir()
    include, lib = torch_dir / "include", torch_dir / "lib"
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or "c++"
    return [cxx, "-O2", "-DNDEBUG", "-std=c++17", "-shared", "-fPIC", "-w",
            f"-I{include}", str(SOURCE), "-o", str(out), f"-L{lib}", "-lc10", "-ltorch_cpu",
            f"-Wl,-rpath,{lib}"]


def build(force: bool = False) -> str:
    """Build the library if it is missing; returns "" or why it could not be built.
    Safe to call from several processes at once (a lock file, then an atomic rename)."""
    out = library_path()
    if out.exists() and not force:
        return ""
    if sys.platform != "linux":
        return f"the native recorder is built on Linux only, not {sys.platform}"
    try:
        BUILD_DIR.mkdir(exist_ok=True)
        with open(BUILD_DIR / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if out.exists() and not force:
                return ""
            fd, tmp = tempfile.mkstemp(dir=BUILD_DIR, suffix=".so.tmp")
            os.close(fd)
            try:
                proc = subprocess.run(compile_command(Path(tmp)), capture_output=True,
                                      text=True, timeout=300)
                if proc.returncode != 0:
                    lines = (proc.stderr or proc.stdout).strip().splitlines()
                    return f"compiling {SOURCE.name} failed: {lines[-1] if lines else ''}"
                os.chmod(tmp, 0o755)
                os.replace(tmp, out)
                for old in BUILD_DIR.glob("oprecord-*.so"):  # builds of an older source
                    if old != out:
                        old.unlink(missing_ok=True)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    except (OSError, RuntimeError, importlib.metadata.PackageNotFoundError,
            subprocess.SubprocessError) as e:
        return f"cannot build the native recorder: {type(e).__name__}: {e}"
    _load.cache_clear()
    return ""


def ensure_built() -> str:
    """Build unless DLGRADE_RECORDER=python; returns why there is no library, or ""."""
    if os.environ.get("DLGRADE_RECORDER") == PYTHON:
        return "DLGRADE_RECORDER=python"
    return build()


@lru_cache(maxsize=1)
def _load():
    if os.environ.get("DLGRADE_RECORDER") == PYTHON:
        return None
    try:
        path = library_path()
        if not path.exists():
            return None
        import torch  # noqa: F401 - its libraries first: the library links against them

        lib = ctypes.CDLL(str(path))
    except (OSError, importlib.metadata.PackageNotFoundError):
        return None
    lib.oprec_start.restype = ctypes.c_longlong
    lib.oprec_check.argtypes = [ctypes.c_longlong]
    lib.oprec_check.restype = ctypes.c_int
    lib.oprec_names.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_longlong]
    lib.oprec_names.restype = ctypes.c_longlong
    lib.oprec_finish.argtypes = [ctypes.POINTER(ctypes.c_longlong), ctypes.c_char_p,
                                 ctypes.c_longlong]
    lib.oprec_finish.restype = ctypes.c_longlong
    return lib


def mode() -> str:
    """NATIVE when the library is built and loads here, else PYTHON."""
    return NATIVE if _load() is not None else PYTHON


class NativeRecorder:
    """A context manager: records what the code inside it dispatches on this thread.
    Read `ops`, `count` and `autograd` after it exits (and `top_ops`, the ops called from
    outside any op, with `top=True`); `intact()` inside it says whether the recording is
    still live (not stopped, disabled or cleared by the code)."""

    def __init__(self, top: bool = False):
        self._lib = _load()
        if self._lib is None:
            raise RuntimeError(f"the native op recorder is not built ({library_path()})")
        self._top = top
        self._generation = 0
        self.ops: set[str] = set()
        self.top_ops: set[str] = set()
        self.count = 0
        self.autograd = False

    def __enter__(self) -> NativeRecorder:
        gen = self._lib.oprec_start()
        if gen < 0:
            raise RuntimeError("an op recording is already running on this thread")
        self._generation = gen
        return self

    def intact(self) -> bool:
        return bool(self._lib.oprec_check(self._generation))

    def __exit__(self, *exc) -> None:
        # One call ends the recording and reads it (four calls cost a worker 10 us a call).
        out = (ctypes.c_longlong * 2)()
        buf = ctypes.create_string_buffer(_NAMES_BYTES)
        need = self._lib.oprec_finish(out, buf, _NAMES_BYTES)
        self.count, self.autograd = int(out[0]), bool(out[1])
        self.ops = self._names(0) if need > _NAMES_BYTES else set(
            ctypes.string_at(buf, need).decode("utf-8", "replace").split("\n")) - {""}
        if self._top:
            self.top_ops = self._names(1)

    def _names(self, top_only: int) -> set[str]:
        size = _NAMES_BYTES
        while True:
            buf = ctypes.create_string_buffer(size)
            need = self._lib.oprec_names(top_only, buf, size)
            if need <= size:
                text = ctypes.string_at(buf, need).decode("utf-8", "replace")
                return set(text.split("\n")) - {""}
            size = need


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.boundary.oprecord [--force]`: build the library (make setup)."""
    args = sys.argv[1:] if argv is None else argv
    why = build(force="--force" in args)
    if why:
        print(f"oprecord: {why}; op recording falls back to Python (slower)", file=sys.stderr)
        return 0
    print(f"oprecord: {library_path()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
