"""The test-authoring API: what a test function in public_tests.py / hidden_tests.py gets.

A test is a function named after its spec id, taking a `TestContext` `t`:

    def linear(t):
        for dtype in (torch.float32, torch.float64):
            with t.case(f"{dtype_name(dtype)} N=4 D=5 M=3"):
                x, w, b = (t.randn(*shape, dtype=dtype) for shape in [(4, 5), (5, 3), (3,)])
                fw = t.run("linear_forward", x, w, b)          # student vs reference, compared
                t.run("linear_backward", t.randn(4, 3, dtype=dtype), fw.cache)

Each `t.case` passes or fails as a whole (the first failed check ends it); the test scores
points * passed / total. The same code serves three purposes:

- hidden tests, graded live: random draws from a seed derived from the secret and the
  submission id, expected values from the live reference (run in float64);
- public tests, recorded once from the reference into fixtures (`Recorder`);
- public tests on a student's machine, replayed from those fixtures (`Replay`): every
  draw and every reference output comes back in the order it was recorded.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import torch

from grader.boundary.session import CallResult, WorkerSession, as_plain
from grader.boundary.wire import Earlier, GeneratorSpec, Handle
from grader.engine import compare, forbidden, syntax
from grader.engine.sources import LiveSource, Recorder, Replay, dtype_name
from grader.engine.spec import Assignment, TestSpec, Tolerance

FAILURE_HIDDEN_TEXT = {
    "not_attempted": "not attempted",
    "exception": "raised an exception",
    "timeout": "too slow for the time limit",
    "crashed": "the worker crashed",
    "import": "the submission could not be imported",
    "mutated": "modified an input in place",
    "aliased": "returned an output that shares memory with an input",
    "forbidden": "used a forbidden operation",
    "property": "a required property does not hold",
    "protocol": "returned something the grader could not read",
    "skipped": "skipped after an earlier failure",
    "fixture": "grader fixture out of date",
    **compare.HIDDEN_TEXT,
}


@dataclass
class Failure:
    """Why a case failed."""

    kind: str
    detail: str
    """Full message (public tests, the student's own machine)."""
    hidden_detail: str = ""
    """What a hidden test may say: names and kinds, no values."""

    def message(self, hidden: bool) -> str:
        if not hidden:
            return self.detail
        return self.hidden_detail or FAILURE_HIDDEN_TEXT.get(self.kind, "failed")


class CaseFailure(Exception):
    def __init__(self, failure: Failure):
        super().__init__(failure.detail)
        self.failure = failure


@dataclass
class CaseResult:
    label: str
    failure: Failure | None = None

    @property
    def passed(self) -> bool:
        return self.failure is None


# ---------------------------------------------------------------------------- pairs


@dataclass
class Pair:
    """One value as the student returned it and as the reference did (e.g. a cache)."""

    student: object
    expected: object


@dataclass
class Outcome:
    """The outputs of a `t.run`: by position or name; caches come back as a Pair."""

    names: tuple[str, ...]
    student: tuple
    expected: tuple

    def __getitem__(self, key):
        i = self.names.index(key) if isinstance(key, str) else key
        return Pair(self.student[i], self.expected[i])

    @property
    def cache(self) -> Pair:
        return self["cache"]


_LEAVES = (torch.Tensor, int, float, str, type(None))
"""What _side, _upcast and _handles_in find most (a trajectory's tensors and numbers): no
further tests, no recursion."""


def _side(value, side: str):
    if isinstance(value, _LEAVES):
        return value
    if isinstance(value, Pair):
        return getattr(value, side)
    if isinstance(value, tuple):
        return tuple(_side(v, side) for v in value)
    if isinstance(value, list):
        return [_side(v, side) for v in value]
    if isinstance(value, dict):
        return {k: _side(v, side) for k, v in value.items()}
    return value


def _upcast(value):
    """float32 -> float64 for the reference, so expected values carry no float32 error."""
    if isinstance(value, torch.Tensor):
        return value.to(torch.float64) if value.dtype == torch.float32 else value
    if isinstance(value, _LEAVES):
        return value
    if value is torch.float32:
        return torch.float64
    if isinstance(value, tuple):
        return tuple(_upcast(v) for v in value)
    if isinstance(value, list):
        return [_upcast(v) for v in value]
    if isinstance(value, dict):
        return {k: _upcast(v) for k, v in value.items()}
    return value


def _has_float32(value) -> bool:
    if isinstance(value, torch.Tensor):
        return value.dtype == torch.float32
    if value is torch.float32:
        return True
    if isinstance(value, (tuple, list)):
        return any(_has_float32(v) for v in value)
    if isinstance(value, dict):
        return any(_has_float32(v) for v in value.values())
    return False


def _handles_in(value) -> list[Handle]:
    if isinstance(value, _LEAVES):
        return []
    if isinstance(value, Handle):
        return [value]
    if isinstance(value, (tuple, list)):
        return [h for v in value for h in _handles_in(v)]
    if isinstance(value, dict):
        return [h for v in value.values() for h in _handles_in(v)]
    return []


AUTOGRAD = "torch.autograd (a tensor requiring grad, or a backward pass)"
"""How a call's run-time use of autograd is named in feedback."""


@functools.lru_cache(maxsize=65536)
def _forbidden_op(op: str, patterns: tuple[str, ...]) -> bool:
    # Cached per (op name, patterns): a call dispatches a few dozen distinct names, drawn
    # from a few hundred per run, while adam's 2,255 calls per submission used to match
    # every name against every pattern again (105,876 fnmatchcase calls).
    return any(fnmatchcase(op, p) for p in patterns)


@functools.lru_cache(maxsize=4096)
def _forbidden_among(ops: tuple[str, ...], patterns: tuple[str, ...]) -> tuple[str, ...]:
    # The calls of one function mostly dispatch the same set of names: one lookup a call.
    return tuple(sorted({op for op in ops if _forbidden_op(op, patterns)}))


def forbidden_matches(ops, patterns) -> list[str]:
    """The names in `ops` that match one of the fnmatch `patterns` (case-sensitive)."""
    return list(_forbidden_among(tuple(ops), tuple(patterns)))


# ---------------------------------------------------------------------------- the context


@dataclass
class TestContext:
    """What a test function receives. See the module docstring."""

    assignment: Assignment
    test: TestSpec
    session: WorkerSession
    source: LiveSource | Recorder | Replay
    signatures: dict[str, list[str]]
    """Parameter names of each student function (from the stub), for messages."""
    device: str = "cpu"
    cases: list[CaseResult] = field(default_factory=list)
    timed_out: bool = False
    forbidden_used: list[str] = field(default_factory=list)
    calls: list[CallResult] = field(default_factory=list)
    _handles: list[Handle] = field(default_factory=list)
    _forward_args: dict[int, dict] = field(default_factory=dict)
    """id(reference cache) -> the named arguments of the call that returned it (for scales)."""

    @property
    def hidden(self) -> bool:
        return self.test.visibility == "hidden"

    # -- cases ----------------------------------------------------------------------
    @contextlib.contextmanager
    def case(self, label: str):
        """A unit of partial credit. The first failed check inside ends it."""
        self.source.begin_case(len(self.cases) + 1)
        result = CaseResult(label)
        try:
            yield self
        except CaseFailure as e:
            result.failure = e.failure
        except _SkipCase:
            # One hang is enough: don't wait out the timeout again for every other case.
            result.failure = Failure("skipped", f"{label}: skipped: an earlier case of this "
                                     "test was too slow for the time limit")
        finally:
            # Caches live in the worker until their case ends.
            self.session.drop(self._handles)
            self._handles = []
            self._forward_args = {}
        self.cases.append(result)

    def fail(self, kind: str, detail: str, hidden_detail: str = "") -> None:
        raise CaseFailure(Failure(kind, detail, hidden_detail))

    def require(self, condition, detail: str, hidden_detail: str = "") -> None:
        """A property check: fail the case with `detail` unless `condition` holds."""
        if not bool(condition):
            self.fail("property", detail, hidden_detail)

    # -- randomness (recorded / replayed) -------------------------------------------
    def randn(self, *shape, dtype=torch.float64, scale: float = 1.0) -> torch.Tensor:
        def make(g):
            x = torch.randn(shape, generator=g, dtype=torch.float64)
            # (x * 1.0 is x, bit for bit: the multiply and the copy are skipped, not the draw)
            return (x if scale == 1.0 else x * scale).to(dtype)
        return self.source.draw(make)

    def rand(self, *shape, dtype=torch.float64, low: float = 0.0, high: float = 1.0):
        return self.source.draw(
            lambda g: (low + (high - low) * torch.rand(shape, generator=g,
                                                       dtype=torch.float64)).to(dtype))

    def randint(self, low: int, high: int, *shape) -> torch.Tensor:
        return self.source.draw(lambda g: torch.randint(low, high, shape, generator=g))

    def bernoulli(self, p: float, *shape) -> torch.Tensor:
        """A bool tensor, True with probability p."""
        return self.source.draw(lambda g: torch.rand(shape, generator=g) < p)

    def integer(self, low: int, high: int) -> int:
        """A Python int in [low, high]."""
        return self.source.draw(lambda g: int(torch.randint(low, high + 1, (1,), generator=g)))

    def seed(self) -> int:
        """A fresh seed (e.g. for a torch.Generator handed to the student)."""
        return self.source.draw(lambda g: int(torch.randint(0, 2**62, (1,), generator=g)))

    def generator(self, seed: int) -> GeneratorSpec:
        """An argument that becomes torch.Generator(device).manual_seed(seed) in the worker."""
        return GeneratorSpec(seed)

    # -- calls ----------------------------------------------------------------------
    def _arg_name(self, fn: str, position: int) -> str:
        names = self.signatures.get(fn, [])
        return names[position] if position < len(names) else f"argument {position + 1}"

    def call(self, fn: str, *args, allow_alias: bool = False, **kwargs):
        """Call the student's `fn`; return its outputs (caches stay in the worker).

        Fails the case on an exception, a timeout, a crash, a forbidden op, an input
        modified in place, or (unless `allow_alias`, for the few functions API.md lets
        return an input itself) an output that shares memory with an input.
        """
        if self.timed_out:
            raise _SkipCase
        s_args, s_kwargs = _side(args, "student"), _side(kwargs, "student")
        result, spans = self.session.call(
            fn, s_args, s_kwargs, keep=self.assignment.keep_indices(fn),
            timeout=self.test.timeout, record_ops=True)
        return self._accept(fn, result, spans, args, kwargs, allow_alias)

    def previous(self, index: int | None = None) -> Earlier:
        """In `chain`: output `index` (None: the whole result) of the step before."""
        return Earlier(-1, index)

    def chain(self, fn: str, steps, *, allow_alias: bool = False):
        """Call the student's `fn` once per step, all in one request; yield each step's
        (outputs, types) as `call` returns them, with the same checks, in order.

        `steps` is a list of (args, kwargs); an argument `t.previous(i)` is output i of
        the step before, as the student returned it: it stays in the worker and is
        passed on exactly as if it had come back here and been sent again (a fresh plain
        copy), so a trajectory costs one round trip, not one per step. Each step still
        gets the per-call timeout, its own op record (forbidden ops), and the checks for
        inputs modified in place and outputs aliasing inputs. The first step that fails
        fails the case; the worker stops the batch at a step that raised.
        """
        if self.timed_out:
            raise _SkipCase
        calls = []
        for k, (args, kwargs) in enumerate(steps):
            def bind(v, k=k):
                if isinstance(v, Earlier) and v.call == -1:
                    if k == 0:
                        raise ValueError("t.previous() in the first step of a chain")
                    return Earlier(k - 1, v.index)
                return v
            s_args = tuple(bind(a) for a in _side(tuple(args), "student"))
            s_kwargs = {key: bind(v) for key, v in _side(dict(kwargs or {}), "student").items()}
            calls.append((fn, s_args, s_kwargs))
        results = self.session.batch(calls, keep=self.assignment.keep_indices(fn),
                                     timeout=self.test.timeout, record_ops=True)
        done = 0
        try:
            for (result, spans), (args, kwargs) in zip(results, steps):
                done += 1
                yield self._accept(fn, result, spans, tuple(args), dict(kwargs or {}),
                                   allow_alias)
        finally:
            # Steps after a failed one were never looked at: their caches still go.
            for result, _ in results[done:]:
                self._handles.extend(_handles_in(result.value))

    def _accept(self, fn: str, result: CallResult, spans, args, kwargs, allow_alias: bool):
        """The checks every student call passes through (see `call`)."""
        self.calls.append(result)
        self._handles.extend(_handles_in(result.value))
        if result.error is not None:
            self._call_failed(fn, result)
        patterns = self.assignment.forbidden_aten
        bad = ([f"aten.{o}" for o in forbidden_matches(result.ops, patterns)]
               + [f"torch.{o}" for o in forbidden_matches(
                   result.functions, (*patterns, *forbidden.AUTOGRAD_FUNCTIONS))])
        if result.autograd:
            # Seen at run time (grader.boundary.worker.OpRecorder): an op on a tensor that
            # requires grad, or one run by the autograd engine; a backward of matmuls
            # dispatches only allowed ops, and torch.func's transforms call no function
            # the function mode names.
            bad.append(AUTOGRAD)
        if bad:
            self.forbidden_used.extend(bad)
            ops = ", ".join(bad)
            self.fail("forbidden", f"{fn} used the forbidden op {ops}",
                      f"{fn} used the forbidden op {ops}")
        if result.mutated:
            kw_names = list(kwargs)
            names = []
            for pos, span in enumerate(spans):
                if any(i in result.mutated for i in span):
                    names.append(self._arg_name(fn, pos) if pos < len(args)
                                 else kw_names[pos - len(args)])
            self.fail("mutated", f"{fn} modified its input {', '.join(names)} in place; "
                      "inputs must not change (work on a copy)")
        if result.containers_mutated:
            kw_names = list(kwargs)
            names = [self._arg_name(fn, pos) if pos < len(args) else kw_names[pos - len(args)]
                     for pos in result.containers_mutated if pos < len(args) + len(kw_names)]
            self.fail("mutated", f"{fn} changed the dict or list passed as "
                      f"{', '.join(names) or 'an argument'} (a key or item added, removed or "
                      "replaced); inputs must not change (build a new one)")
        if result.containers_returned:
            self.fail("aliased", f"{fn} returned a dict or list that the caller passed in; "
                      "return a new one (the caller's must stay as it was)")
        if result.aliased and not allow_alias:
            self.fail("aliased", f"{fn} returned a tensor that shares memory with one of its "
                      "inputs (a view or the input itself); return a new tensor (e.g. .clone())")
        types = {id(t): (ty, dev) for t, ty, dev in
                 zip(result.tensors, result.tensor_types, result.tensor_devices)}
        return as_plain(result.value), types

    def _call_failed(self, fn: str, result: CallResult) -> None:
        err = result.error
        if err.type == "NotImplementedError":
            self.fail("not_attempted", f"{fn} is not implemented yet (not attempted)",
                      f"{fn}: not attempted")
        if err.type == "Timeout":
            self.timed_out = True
            # Correctness and speed are graded apart: a call that runs out of time is slow,
            # not wrong, and must read that way (the performance tests measure speed).
            limit = f"{self.test.timeout:g} s per call"
            self.fail("timeout", f"{fn}: too slow for the time limit ({limit}); the answer "
                      "was not checked (speed is graded by the performance tests)",
                      f"{fn}: too slow for the time limit ({limit})")
        # Hidden feedback carries only the grader's own words: an exit status, a signal
        # number, an exception's type or text is chosen by the worker, and a submission
        # that set its exit status from a hidden input's bytes read them back from it.
        if err.type == "WorkerDied":
            self.fail("crashed", f"{fn}: {err.message}", f"{fn}: the worker crashed")
        if err.type == "ImportFailed":
            self.fail("import", f"the submission could not be imported: {err.message}",
                      "the submission could not be imported")
        if err.type == "Protocol":
            self.fail("protocol", f"{fn}: {err.message}", f"{fn}: returned an unreadable value")
        tb = err.traceback.strip().splitlines()
        where = ""
        for i in range(len(tb) - 1, -1, -1):
            if tb[i].strip().startswith("File "):
                # The worker keeps the submission's own frames only: this is the student's
                # line, shown with its code.
                code = tb[i + 1].strip() if i + 1 < len(tb) else ""
                if code.startswith(("File ", "^", "~")) or code == tb[-1].strip():
                    code = ""
                where = f" ({tb[i].strip()}{': ' + code if code else ''})"
                break
        self.fail("exception", f"{fn} raised {err.type}: {err.message}{where}",
                  f"{fn} raised an exception")

    def reference(self, fn: str, *args, upcast: bool = True, **kwargs):
        """The reference's outputs for the same inputs (float32 inputs run in float64)."""
        r_args, r_kwargs = _side(args, "expected"), _side(kwargs, "expected")
        if upcast:
            r_args, r_kwargs = _upcast(r_args), _upcast(r_kwargs)
        return self.source.expect(fn, r_args, r_kwargs)

    def tolerance(self, dtype: torch.dtype) -> Tolerance:
        return self.test.tolerances.get(dtype_name(dtype), Tolerance())

    def check(self, name: str, got, expected, *, dtype: torch.dtype | None = None,
              tol: Tolerance | None = None, types=None, natural: float = 0.0) -> None:
        """Compare one output (tensor, None, number, list or dict of those). `natural`: the
        output's natural size (see Tolerance.atol_scaled); `run` takes it from the spec."""

        def tol_for(d):
            return tol if tol is not None else self.tolerance(d)

        m = compare.compare_value(name, got, expected, tol_for, float_dtype=dtype,
                                  types=types, device=self.device if types else None,
                                  natural=natural)
        if m is not None:
            self.fail(m.kind, m.detail, m.hidden())

    def run(self, fn: str, *args, tol: dict[str, Tolerance] | None = None,
            compare_outputs: tuple[str, ...] | None = None, allow_alias: bool = False,
            **kwargs) -> Outcome:
        """Call the student and the reference on the same inputs and compare every output
        but the caches. Returns both sides' outputs (an Outcome)."""
        names = self.assignment.outputs(fn)
        single = isinstance(self.assignment.functions[fn], str)
        got, types = self.call(fn, *args, allow_alias=allow_alias, **kwargs)
        expected = self.reference(fn, *args, **kwargs)
        float_dtype = torch.float32 if _has_float32((args, kwargs)) else None
        if single:
            got, expected = (got,), (expected,)
        elif not isinstance(got, (tuple, list)) or len(got) != len(names):
            self.fail("structure", f"{fn}: expected a tuple of {len(names)} values "
                      f"({', '.join(names)}), got {compare.describe_value(got)}",
                      f"{fn}: wrong number of return values")
        named = self._named_args(fn, args, kwargs)
        scales = self.assignment.scales.get(fn, {})
        for name, g, e in zip(names, got, expected):
            if name == "cache":
                if not single:
                    self._forward_args[id(e)] = named
                continue
            if compare_outputs is not None and name not in compare_outputs:
                continue
            t = (tol or {}).get(name)
            natural = scales[name].evaluate(named) if name in scales else 0.0
            self.check(name, g, e, dtype=float_dtype, tol=t, types=types, natural=natural)
        return Outcome(tuple(names), tuple(got), tuple(expected))

    def _named_args(self, fn: str, args, kwargs) -> dict:
        """The reference side's arguments by parameter name, and those of the calls whose
        caches are among them (a backward's scale may depend on its forward's inputs)."""
        params = self.signatures.get(fn, [])
        own = {params[i] if i < len(params) else f"arg{i}": _side(a, "expected")
               for i, a in enumerate(args)}
        own.update({k: _side(v, "expected") for k, v in kwargs.items()})
        named = {}
        for v in [*args, *kwargs.values()]:
            if isinstance(v, Pair) and id(v.expected) in self._forward_args:
                named.update(self._forward_args[id(v.expected)])
        named.update(own)
        return named


    def perf(self, fn: str, make_inputs, **options):
        """A performance check of `fn` against a baseline: see grader.engine.perf.measure."""
        from grader.engine import perf

        return perf.measure(self, fn, make_inputs, **options)


class _SkipCase(Exception):
    """Internal: the case body is abandoned because the test already timed out."""


def stub_signatures(path: Path) -> dict[str, list[str]]:
    """Parameter names of each top-level function in a stub, read without importing it."""
    try:
        return source_signatures(Path(path).read_text(encoding="utf-8"))
    except OSError:
        return {}


def source_signatures(source: str) -> dict[str, list[str]]:
    """Parameter names of each top-level function defined in `source` (not imported)."""
    import ast

    try:
        tree = syntax.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return {}
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            a = node.args
            out[node.name] = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
    return out


def test_function(module, test_id: str):
    fn = getattr(module, test_id, None)
    if fn is None or not callable(fn) or len(inspect.signature(fn).parameters) != 1:
        raise AttributeError(f"{getattr(module, '__file__', module)}: defines no test "
                             f"function {test_id}(t)")
    return fn
