"""Run an assignment's correctness tests on trusted code in this process, for many seeds.

Grading one submission id through a worker costs a fork, an import and a round trip per
call; grading every correct variant under hundreds of ids that way takes hours on a shared
2-core machine. What changes from one id to the next is only the inputs, so only what
depends on the inputs needs many ids: the values compared (tolerances) and the properties
checked (e.g. dropout's statistics). This module runs the very same test functions
(`reference/<name>/hidden_tests.py`, through `grader.engine.testing.TestContext`, with the
same `LiveSource` seeds and the same `compare` calls) but calls the variant's functions in
this process instead of a worker. Everything that does not depend on the seed (forbidden
ops, in-place writes, aliasing, time limits) is checked once per variant by the real
pipeline in test_assignments.py.

Only for trusted code (the reference's variants and mutants): it imports the file here.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import itertools
import traceback
import types
from pathlib import Path

import torch

from grader.boundary.session import CallError, CallResult
from grader.boundary.wire import Earlier, GeneratorSpec, Handle
from grader.engine import grading, sources, testing
from grader.engine.spec import TestSpec


def load_variant(path: Path, tag: str = ""):
    name = f"_dlgrade_inprocess_{path.parent.parent.name}_{path.stem}{tag}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_source(source: str, name: str):
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)  # noqa: S102 - trusted code
    return module


class InProcessSession:
    """The part of `WorkerSession` the test API uses (`call`, `drop`), in this process.

    Arguments are copied as the wire would copy them (the variant cannot change the trusted
    side's tensors); outputs named `cache` stay here behind a `Handle`, as in a worker.
    """

    def __init__(self, module, device: str = "cpu"):
        self.module = module
        self.device = device
        self._kept: dict[int, object] = {}
        self._ids = itertools.count(1)

    def _arg(self, value):
        if isinstance(value, Handle):
            return self._kept[value.id]
        if isinstance(value, GeneratorSpec):
            return torch.Generator(device=self.device).manual_seed(value.seed)
        if isinstance(value, torch.Tensor):
            return value.detach().clone().to(self.device)
        if isinstance(value, tuple):
            return tuple(self._arg(v) for v in value)
        if isinstance(value, list):
            return [self._arg(v) for v in value]
        if isinstance(value, dict):
            return {k: self._arg(v) for k, v in value.items()}
        return copy.copy(value)

    def _out(self, value):
        if isinstance(value, torch.Tensor):
            return value.detach().clone().cpu()
        if isinstance(value, tuple):
            return tuple(self._out(v) for v in value)
        if isinstance(value, list):
            return [self._out(v) for v in value]
        if isinstance(value, dict):
            return {k: self._out(v) for k, v in value.items()}
        return value

    def _call(self, fn, args, kwargs, keep):
        a = [self._arg(v) for v in args]
        kw = {k: self._arg(v) for k, v in (kwargs or {}).items()}
        try:
            value = getattr(self.module, fn)(*a, **kw)
        except Exception as e:  # noqa: BLE001 - reported like a worker's exception
            return CallResult(error=CallError(type(e).__name__, str(e),
                                              traceback.format_exc())), None
        if keep and isinstance(value, (tuple, list)):
            value = list(value)
            for i in keep:
                if i < len(value):
                    h = Handle(next(self._ids), type(value[i]).__name__)
                    self._kept[h.id] = value[i]
                    value[i] = h
            value = tuple(value)
        return CallResult(value=self._out(value)), value

    def call(self, fn, args=(), kwargs=None, *, keep=(), timeout=10.0, record_ops=True,
             repeat=1, count_ops=False):
        result, _ = self._call(fn, args, kwargs, keep)
        return result, [[] for _ in [*args, *(kwargs or {})]]

    def batch(self, calls, *, keep=(), timeout=10.0, record_ops=True):
        """`WorkerSession.batch`: an argument Earlier(j, i) is output i (None: all) of call
        j, passed on as a fresh copy, as the worker does."""
        raw, out = [], []

        def resolve(v):
            if isinstance(v, Earlier):
                return raw[v.call] if v.index is None else raw[v.call][v.index]
            return v

        for fn, args, kwargs in calls:
            result, value = self._call(fn, [resolve(a) for a in args],
                                       {k: resolve(v) for k, v in (kwargs or {}).items()},
                                       keep)
            raw.append(value)
            out.append((result, [[p] for p in range(len(args) + len(kwargs or {}))]))
            if result.error is not None:
                break
        return out

    def drop(self, handles) -> None:
        for h in handles:
            self._kept.pop(h.id, None)


def correctness_tests(suite: grading.Suite, test_ids=None) -> list[TestSpec]:
    """The hidden tests whose inputs depend on the submission id (public tests replay
    fixed fixtures: one id covers them)."""
    return [t for t in suite.assignment.tests
            if t.visibility == "hidden" and t.kind != "performance"
            and (test_ids is None or t.id in test_ids)]


def run_ids(suite: grading.Suite, module, ids, *, secret: str = "dlgrade-many-ids",
            tests=None, device: str = "cpu"):
    """Run `tests` (default: every hidden correctness test) on `module` for each id.

    Returns a list of (submission id, test id, case label, message) for every failed case.
    """
    failures = []
    tests = list(tests if tests is not None else correctness_tests(suite))
    a = suite.assignment
    for n, sid in enumerate(ids):
        seed = grading.submission_seed(secret, a.name, sid)
        for test in list(tests):
            source = _CountingSource(sources.derive_seed(str(seed), test.id), suite.reference)
            ctx = testing.TestContext(a, test, InProcessSession(module, device), source,
                                      suite.signatures, device)
            testing.test_function(suite.hidden_tests, test.id)(ctx)
            for c in ctx.cases:
                if not c.passed:
                    failures.append((sid, test.id, c.label, c.failure.detail))
            if n == 0 and source.draws == 0:
                tests.remove(test)  # draws nothing: the same inputs for every id
    return failures


class _CountingSource(sources.LiveSource):
    draws = 0

    def draw(self, make):
        self.draws += 1
        return super().draw(make)


def with_tolerances(suite: grading.Suite, **replace) -> grading.Suite:
    """The suite with test fields replaced (for checking that a check can fail)."""
    a = suite.assignment
    tests = tuple(dataclasses.replace(t, **replace) for t in a.tests)
    return dataclasses.replace(suite, assignment=dataclasses.replace(a, tests=tests))
