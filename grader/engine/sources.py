"""Where a test's inputs and expected values come from.

The same test code draws inputs and asks for expected outputs through one of three
sources: `LiveSource` (hidden tests: a seeded generator and the live reference),
`Recorder` (building public fixtures: live, keeping everything drawn and expected) and
`Replay` (public tests on a student's machine: everything back from the fixture, in the
order it was recorded).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def derive_seed(*parts: str) -> int:
    """A 62-bit seed from strings (secret, assignment, submission id, test id)."""
    h = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(h[:8], "big") >> 2


class LiveSource:
    """Draws from a seeded generator; expected values from the live reference module."""

    def __init__(self, seed: int, reference):
        self.seed = seed
        self.gen = torch.Generator().manual_seed(seed)
        self.reference = reference

    def begin_case(self, index: int) -> None:
        # Each case draws from its own stream, so a case that stops early (a failed
        # check) leaves the inputs of the next ones unchanged.
        self.gen = torch.Generator().manual_seed(derive_seed(str(self.seed), str(index)))

    def draw(self, make: Callable[[torch.Generator], object]):
        return make(self.gen)

    def expect(self, fn: str, args, kwargs):
        return getattr(self.reference, fn)(*args, **kwargs)


class Recorder(LiveSource):
    """A LiveSource that also keeps every draw and reference output, for fixtures."""

    def __init__(self, seed: int, reference):
        super().__init__(seed, reference)
        self.groups: list[list] = [[]]  # group 0: draws outside any case

    def begin_case(self, index: int) -> None:
        super().begin_case(index)
        while len(self.groups) <= index:
            self.groups.append([])

    def draw(self, make):
        value = super().draw(make)
        self.groups[-1].append(("draw", value))
        return value

    def expect(self, fn, args, kwargs):
        value = super().expect(fn, args, kwargs)
        self.groups[-1].append(("expect", value))
        return value

    def save(self, path: Path, names: dict[str, tuple[str, ...] | str]) -> None:
        arrays: dict[str, np.ndarray] = {}

        def tree(v):
            if isinstance(v, torch.Tensor):
                key = f"t{len(arrays)}"
                arrays[key] = v.detach().cpu().numpy()
                return {"t": key}
            if v is None or isinstance(v, (bool, int, float, str)):
                return {"v": v}
            if isinstance(v, torch.dtype):
                return {"dtype": dtype_name(v)}
            if isinstance(v, tuple):
                return {"tuple": [tree(x) for x in v]}
            if isinstance(v, list):
                return {"list": [tree(x) for x in v]}
            if isinstance(v, dict) and all(isinstance(k, str) for k in v):
                return {"dict": [[k, tree(x)] for k, x in v.items()]}
            return {"opaque": True}  # a cache: replay never looks inside

        groups = [[{"kind": kind, "value": tree(v)} for kind, v in g] for g in self.groups]
        meta = json.dumps({"format": 1, "groups": groups}).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez_compressed(f, __meta__=np.frombuffer(meta, dtype=np.uint8), **arrays)


class FixtureError(Exception):
    """A public-test fixture is missing or does not match the test code."""


@functools.lru_cache(maxsize=64)
def _load_fixture(path: str, mtime_ns: int, size: int) -> tuple[dict, list]:
    """A fixture's arrays and recorded groups, read once per version of the file (every
    submission replays the same ones; `Replay._build` hands out copies)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays.pop("__meta__").tobytes())
    for a in arrays.values():
        a.flags.writeable = False
    return arrays, meta["groups"]


class Replay:
    """Returns recorded draws and reference outputs, in order."""

    def __init__(self, path: Path):
        try:
            st = os.stat(path)
            self.arrays, self.groups = _load_fixture(str(path), st.st_mtime_ns, st.st_size)
        except (OSError, ValueError) as e:
            raise FixtureError(f"{path}: cannot read the fixture: {e}") from None
        self.items = self.groups[0]
        self.pos = 0
        self.path = path

    def begin_case(self, index: int) -> None:
        if index >= len(self.groups):
            raise FixtureError(f"{self.path.name}: the test has more cases than were "
                               "recorded; rebuild the fixtures")
        self.items, self.pos = self.groups[index], 0

    def _next(self, kind: str):
        if self.pos >= len(self.items) or self.items[self.pos]["kind"] != kind:
            raise FixtureError(f"{self.path.name}: the test asked for more or other data than "
                               "was recorded; rebuild the fixtures")
        item = self.items[self.pos]
        self.pos += 1
        return self._build(item["value"])

    def _build(self, node):
        if "t" in node:
            return torch.from_numpy(self.arrays[node["t"]].copy())
        if "v" in node:
            return node["v"]
        if "dtype" in node:
            return getattr(torch, node["dtype"])
        if "tuple" in node:
            return tuple(self._build(x) for x in node["tuple"])
        if "list" in node:
            return [self._build(x) for x in node["list"]]
        if "dict" in node:
            return {k: self._build(x) for k, x in node["dict"]}
        return _Opaque()

    def draw(self, make):
        return self._next("draw")

    def expect(self, fn, args, kwargs):
        return self._next("expect")


class _Opaque:
    """A recorded reference cache: only ever passed back to a replayed reference call."""
