"""The assignment spec (`assignments/<name>/assignment.yaml`): loading and validation.

Errors name the file, the key path, what was expected and what was found:
`assignment.yaml: tests[2].points: expected a number >= 0, got -2`.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from grader.engine import syntax

VISIBILITIES = ("public", "hidden")
KINDS = ("compare", "property", "performance")
DTYPE_NAMES = ("float32", "float64")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def default_kind(test_id: str) -> str:
    """The kind of a test whose spec entry leaves `kind` out."""
    return "performance" if test_id.startswith("perf_") else "compare"


class SpecError(Exception):
    """An assignment spec is missing or malformed."""


@dataclass(frozen=True)
class Tolerance:
    """How close a float output must be: |got - exp| <= atol + atol_scaled*scale + rtol*|exp|,
    where scale is the output's natural size (see `scale`)."""

    rtol: float = 0.0
    """Relative to each expected element."""
    atol: float = 0.0
    """Absolute."""
    atol_scaled: float = 0.0
    """Absolute, in units of the output's scale: the larger of the largest |expected| of
    that tensor and the natural size the spec declares for that output under `scales`
    (cancellation-safe, and safe where every value underflows far below its natural size,
    e.g. a softmax gradient whose probabilities are all ~1e-30 in float64 and 0 in
    float32)."""

    def bound(self, expected_abs, scale: float):
        return self.atol + self.atol_scaled * scale + self.rtol * expected_abs

    def describe(self) -> str:
        parts = [f"{k}={getattr(self, k):g}" for k in ("rtol", "atol", "atol_scaled")
                 if getattr(self, k)]
        return ", ".join(parts) or "exact"


_SCALE_FUNCTIONS = ("absmax", "rms", "minstd", "numel", "size", "sqrt", "min", "max")
_SCALE_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Div: operator.truediv, ast.Pow: operator.pow}


def _absmax(x) -> float:
    if isinstance(x, (int, float)):
        return abs(float(x))
    return float(x.detach().abs().max()) if x.numel() else 0.0


def _rms(x) -> float:
    if isinstance(x, (int, float)):
        return abs(float(x))
    return float(x.detach().double().pow(2).mean().sqrt()) if x.numel() else 0.0


def _minstd(x, dim) -> float:
    """The smallest standard deviation (biased) among x's slices along `dim`: with dim=1,
    batch normalization's per-channel statistic of an (N, C, ...) input."""
    d = int(dim)
    slices = x.detach().double().movedim(d, 0).reshape(x.shape[d], -1)
    return float(slices.var(dim=1, unbiased=False).min().sqrt()) if slices.numel() else 0.0


_SCALE_IMPL = {"absmax": _absmax, "rms": _rms, "minstd": _minstd,
               "numel": lambda x: float(x.numel()),
               "size": lambda x, d: float(x.shape[int(d)]), "sqrt": math.sqrt,
               "min": min, "max": max}


@dataclass(frozen=True)
class Scale:
    """The natural size of an output, as an expression of the call's arguments.

    A tolerance must scale with what an output is naturally the size of, not with the
    values a particular input happens to give it: softmax probabilities are ~1/C, the
    gradient of a mean loss is ~1/N, a gradient is the size of the upstream gradient times
    the local derivative. Names are the function's parameters and, for a call that takes a
    cache from an earlier call in the same case, that call's parameters; functions are
    absmax(x), rms(x), minstd(x, dim), numel(x), size(x, dim), sqrt, min and max;
    operators + - * / **. Example: `dlogits: 1 / size(logits, 0)`.
    """

    text: str
    names: tuple[str, ...]

    @staticmethod
    def parse(text: str) -> Scale:
        """Raises ValueError naming what is not allowed."""
        try:
            tree = syntax.parse(text, mode="eval")
        except SyntaxError as e:
            raise ValueError(f"not an expression ({e.msg})") from None
        names = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                if not (isinstance(node.func, ast.Name) and node.func.id in _SCALE_FUNCTIONS
                        and not node.keywords):
                    raise ValueError("calls only to " + ", ".join(_SCALE_FUNCTIONS))
            elif isinstance(node, ast.Name):
                if node.id not in _SCALE_FUNCTIONS:
                    names.append(node.id)
            elif isinstance(node, ast.Constant):
                if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                    raise ValueError(f"a number, not {node.value!r}")
            elif isinstance(node, ast.BinOp):
                if type(node.op) not in _SCALE_OPS:
                    raise ValueError("operators + - * / ** only")
            elif isinstance(node, ast.UnaryOp):
                if not isinstance(node.op, ast.USub):
                    raise ValueError("unary - only")
            elif not isinstance(node, (ast.Expression, ast.Load, ast.operator, ast.unaryop)):
                raise ValueError(f"{type(node).__name__} is not allowed")
        return Scale(text, tuple(dict.fromkeys(names)))

    @functools.cached_property
    def _tree(self) -> ast.Expression:
        # Parsed once per spec, not at every comparison (parses share one lock).
        return syntax.parse(self.text, mode="eval")

    def evaluate(self, values: dict) -> float:
        """The scale for these arguments (name -> tensor or number)."""
        missing = [n for n in self.names if n not in values]
        if missing:
            raise KeyError(f"scale {self.text!r}: no argument named {', '.join(missing)} "
                           f"(have {', '.join(values) or 'none'})")

        def ev(node):
            if isinstance(node, ast.Expression):
                return ev(node.body)
            if isinstance(node, ast.Constant):
                return node.value
            if isinstance(node, ast.Name):
                return values[node.id]
            if isinstance(node, ast.UnaryOp):
                return -ev(node.operand)
            if isinstance(node, ast.BinOp):
                return _SCALE_OPS[type(node.op)](ev(node.left), ev(node.right))
            return _SCALE_IMPL[node.func.id](*(ev(a) for a in node.args))

        value = ev(self._tree)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"scale {self.text!r}: expected a number, got "
                            f"{type(value).__name__} (wrap tensors in absmax(...) or rms(...))")
        return float(value)


PERF_DEVICES = ("cpu", "cuda")
PERF_KEYS = ("max_ratio", "sizes", "dtype", "rounds", "warmup", "sets", "budget_s")


@dataclass(frozen=True)
class PerfOptions:
    """A performance test's settings on one device class: `options.<cpu|cuda>` over the
    test's shared `options` (the device's value wins)."""

    max_ratio: float
    """The most the student's median time may be, in multiples of the baseline's."""
    sizes: dict[str, int] = field(default_factory=dict)
    """Problem sizes overriding the test function's own (`t.perf(..., sizes=...)`)."""
    dtype: str | None = None
    """float32 or float64; None: the device's default (float64 on cpu, float32 on cuda)."""
    rounds: int = 15
    """Timed rounds at most (fewer when the verdict is clear early)."""
    warmup: int = 1
    """Untimed rounds first."""
    sets: int = 1
    """Input sets per round, timed together (small calls are timed in batches)."""
    budget_s: float = 60.0
    """Stop timing after this many seconds (once 3 rounds are in)."""


@dataclass(frozen=True)
class TestSpec:
    """One graded test of an assignment."""

    id: str
    """Unique within the assignment; performance tests start with `perf_`."""
    points: float
    """Full marks; partial credit is points * passed cases / cases."""
    visibility: str
    """"public" (ships with the handout, detailed feedback) or "hidden" (pass/fail only)."""
    kind: str
    """"compare" (against the reference), "property" (outputs alone), or "performance"."""
    functions: tuple[str, ...]
    """Student functions the test calls; a forbidden op in any of them zeroes the test."""
    tolerances: dict[str, Tolerance]
    """Per dtype name ("float32", "float64")."""
    timeout: float
    """Wall-clock seconds allowed per call."""
    description: str = ""
    options: dict = field(default_factory=dict)
    """Kind-specific settings, as written (free-form for compare and property tests)."""
    perf: dict[str, PerfOptions] = field(default_factory=dict)
    """Performance tests: the settings per device class ("cpu", "cuda"), parsed at load."""


@dataclass(frozen=True)
class Assignment:
    """A loaded, validated assignment spec."""

    name: str
    title: str
    module: str
    """The student's file is `<module>.py`."""
    version: str
    directory: Path
    """The assignment folder (stub, handout, spec, public tests, fixtures)."""
    functions: dict[str, tuple[str, ...] | str]
    """Student API: function -> output names (a tuple) or a single output name (a str)."""
    forbidden_aten: tuple[str, ...]
    forbidden_python: tuple[str, ...]
    tolerances: dict[str, Tolerance]
    timeout: float
    tests: tuple[TestSpec, ...]
    digest: str
    """Hash of the spec file: results of another version are not reused."""
    scales: dict[str, dict[str, Scale]] = field(default_factory=dict)
    """function -> output -> its natural size, from the call's arguments (`scales:`)."""

    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.tests)

    def test(self, test_id: str) -> TestSpec:
        for t in self.tests:
            if t.id == test_id:
                return t
        raise KeyError(test_id)

    def outputs(self, fn: str) -> tuple[str, ...]:
        spec = self.functions[fn]
        return (spec,) if isinstance(spec, str) else spec

    def keep_indices(self, fn: str) -> tuple[int, ...]:
        """Outputs named `cache` stay in the worker; only a handle crosses."""
        spec = self.functions[fn]
        if isinstance(spec, str):
            return ()
        return tuple(i for i, name in enumerate(spec) if name == "cache")


# ---------------------------------------------------------------------------- validation


def _describe(value) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) < 40 else repr(value[:37] + "...")
    if value is None:
        return "nothing"
    if isinstance(value, (dict, list)):
        return f"a {type(value).__name__}"
    return repr(value)


class _Ctx:
    def __init__(self, file: str):
        self.file = file

    def fail(self, path: str, expected: str, got) -> SpecError:
        return SpecError(f"{self.file}: {path}: expected {expected}, got {_describe(got)}")

    def mapping(self, value, path):
        if not isinstance(value, dict):
            raise self.fail(path, "a mapping", value)
        return value

    def string(self, value, path, pattern=None, what="a string"):
        if not isinstance(value, str) or not value or (pattern and not pattern.match(value)):
            raise self.fail(path, what, value)
        return value

    def number(self, value, path, minimum=0.0):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise self.fail(path, f"a number >= {minimum:g}", value)
        return float(value)

    def integer(self, value, path, minimum=0):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(path, f"an integer >= {minimum}", value)
        return value

    def choice(self, value, path, choices):
        if value not in choices:
            raise self.fail(path, "one of " + ", ".join(choices), value)
        return value

    def string_list(self, value, path):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(path, "a list of strings", value)
        return tuple(value)

    def unknown_keys(self, data: dict, path: str, allowed):
        for k in data:
            if k not in allowed:
                where = f"{path}.{k}" if path else str(k)
                raise self.fail(where, "one of the keys " + ", ".join(allowed), k)


def _tolerances(ctx: _Ctx, data, path: str, base: dict[str, Tolerance]) -> dict[str, Tolerance]:
    out = dict(base)
    if data is None:
        return out
    ctx.mapping(data, path)
    for dtype, tol in data.items():
        ctx.choice(dtype, f"{path}.{dtype}", DTYPE_NAMES)
        ctx.mapping(tol, f"{path}.{dtype}")
        ctx.unknown_keys(tol, f"{path}.{dtype}", ("rtol", "atol", "atol_scaled"))
        out[dtype] = Tolerance(**{k: ctx.number(v, f"{path}.{dtype}.{k}") for k, v in tol.items()})
    return out


def _scales(ctx: _Ctx, data, functions) -> dict[str, dict[str, Scale]]:
    out: dict[str, dict[str, Scale]] = {}
    for fn, outs in ctx.mapping(data or {}, "scales").items():
        if fn not in functions:
            raise ctx.fail(f"scales.{fn}", "a function listed under functions", fn)
        spec = functions[fn]
        names = (spec,) if isinstance(spec, str) else spec
        out[fn] = {}
        for name, text in ctx.mapping(outs, f"scales.{fn}").items():
            if name not in names or name == "cache":
                raise ctx.fail(f"scales.{fn}.{name}", "one of the outputs "
                               + ", ".join(n for n in names if n != "cache"), name)
            if isinstance(text, (int, float)) and not isinstance(text, bool):
                text = repr(text)
            ctx.string(text, f"scales.{fn}.{name}", what="an expression")
            try:
                out[fn][name] = Scale.parse(text)
            except ValueError as e:
                raise ctx.fail(f"scales.{fn}.{name}", f"an expression of the arguments ({e})",
                               text) from None
    return out


def _perf_options(ctx: _Ctx, options: dict, path: str) -> dict[str, PerfOptions]:
    ctx.unknown_keys(options, path, PERF_DEVICES + PERF_KEYS[1:])
    out = {}
    for device in PERF_DEVICES:
        if device not in options:
            if device == "cpu":
                raise ctx.fail(f"{path}.cpu", "the CPU settings (at least max_ratio)", None)
            continue
        dp = f"{path}.{device}"
        own = ctx.mapping(options[device], dp)
        ctx.unknown_keys(own, dp, PERF_KEYS)
        merged = {k: v for k, v in options.items() if k not in PERF_DEVICES} | own
        if "max_ratio" not in merged:
            raise ctx.fail(f"{dp}.max_ratio", "a number > 1 (required key)", None)
        sizes = {**ctx.mapping(options.get("sizes") or {}, f"{path}.sizes"),
                 **ctx.mapping(own.get("sizes") or {}, f"{dp}.sizes")}
        for k, v in sizes.items():
            ctx.integer(v, f"{dp}.sizes.{k}", 1)

        dtype = merged.get("dtype")
        if dtype is not None:
            ctx.choice(dtype, f"{dp}.dtype", DTYPE_NAMES)
        out[device] = PerfOptions(
            max_ratio=ctx.number(merged["max_ratio"], f"{dp}.max_ratio", 1.0),
            sizes=sizes, dtype=dtype,
            rounds=ctx.integer(merged.get("rounds", 15), f"{dp}.rounds", 1),
            warmup=ctx.integer(merged.get("warmup", 1), f"{dp}.warmup", 0),
            sets=ctx.integer(merged.get("sets", 1), f"{dp}.sets", 1),
            budget_s=ctx.number(merged.get("budget_s", 60.0), f"{dp}.budget_s", 1.0))
    return out


def parse(data, directory: Path, file: str = "assignment.yaml", digest: str = "") -> Assignment:
    """Validate a parsed YAML document and build the Assignment."""
    ctx = _Ctx(file)
    ctx.mapping(data, "(top level)")
    ctx.unknown_keys(data, "", ("name", "title", "module", "version", "timeout", "functions",
                                "forbidden", "tolerances", "scales", "tests"))
    for key in ("name", "title", "module", "functions", "tests"):
        if key not in data:
            raise ctx.fail(key, "a value (required key)", None)
    name = ctx.string(data["name"], "name", _ID, "a lower-case identifier")
    module = ctx.string(data["module"], "module", _ID, "a lower-case identifier")
    title = ctx.string(data["title"], "title")
    version = str(data.get("version", "1"))
    timeout = ctx.number(data.get("timeout", 10), "timeout", 0.1)

    functions: dict[str, tuple[str, ...] | str] = {}
    for fn, outs in ctx.mapping(data["functions"], "functions").items():
        ctx.string(fn, f"functions.{fn}", re.compile(r"^[A-Za-z_]\w*$"), "a function name")
        if isinstance(outs, str):
            functions[fn] = outs
        else:
            functions[fn] = ctx.string_list(outs, f"functions.{fn}")

    forbidden = ctx.mapping(data.get("forbidden") or {}, "forbidden")
    ctx.unknown_keys(forbidden, "forbidden", ("aten", "python"))
    f_aten = ctx.string_list(forbidden.get("aten", []), "forbidden.aten")
    f_python = ctx.string_list(forbidden.get("python", []), "forbidden.python")

    tolerances = _tolerances(ctx, data.get("tolerances"), "tolerances",
                             {d: Tolerance() for d in DTYPE_NAMES})
    scales = _scales(ctx, data.get("scales"), functions)

    tests_data = data["tests"]
    if not isinstance(tests_data, list) or not tests_data:
        raise ctx.fail("tests", "a non-empty list", tests_data)
    tests = []
    seen = set()
    for i, t in enumerate(tests_data):
        p = f"tests[{i}]"
        ctx.mapping(t, p)
        ctx.unknown_keys(t, p, ("id", "points", "visibility", "kind", "functions",
                                "tolerances", "timeout", "description", "options"))
        for key in ("id", "points", "visibility", "functions"):
            if key not in t:
                raise ctx.fail(f"{p}.{key}", "a value (required key)", None)
        tid = ctx.string(t["id"], f"{p}.id", _ID, "a lower-case identifier")
        if tid in seen:
            raise ctx.fail(f"{p}.id", "an id not used by another test", tid)
        seen.add(tid)
        # The id already says whether a test is a performance test, so `kind` may be left
        # out: perf_* ids are performance tests, the others compare tests (a property
        # test says so).
        kind = ctx.choice(t.get("kind", default_kind(tid)), f"{p}.kind", KINDS)
        if (kind == "performance") != tid.startswith("perf_"):
            raise ctx.fail(f"{p}.id", "a performance test id to start with 'perf_' "
                           "(and only those)", tid)
        fns = ctx.string_list(t["functions"], f"{p}.functions")
        for j, fn in enumerate(fns):
            if fn not in functions:
                raise ctx.fail(f"{p}.functions[{j}]", "a function listed under functions", fn)
        options = t.get("options") or {}
        ctx.mapping(options, f"{p}.options")
        perf = _perf_options(ctx, options, f"{p}.options") if kind == "performance" else {}
        tests.append(TestSpec(
            id=tid,
            points=ctx.number(t["points"], f"{p}.points"),
            visibility=ctx.choice(t["visibility"], f"{p}.visibility", VISIBILITIES),
            kind=kind,
            functions=fns,
            tolerances=_tolerances(ctx, t.get("tolerances"), f"{p}.tolerances", tolerances),
            timeout=ctx.number(t.get("timeout", timeout), f"{p}.timeout", 0.1),
            description=str(t.get("description", "")),
            options=options,
            perf=perf,
        ))
    return Assignment(name=name, title=title, module=module, version=version,
                      directory=directory, functions=functions, forbidden_aten=f_aten,
                      forbidden_python=f_python, tolerances=tolerances, timeout=timeout,
                      tests=tuple(tests), digest=digest, scales=scales)


def load(path: Path) -> Assignment:
    """Load `assignment.yaml` (or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "assignment.yaml"
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SpecError(f"{path}: cannot read the spec: {e.strerror}") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise SpecError(f"{path}: not valid YAML{where}: "
                        f"{getattr(e, 'problem', None) or e}") from None
    return parse(data, path.parent, str(path), hashlib.sha256(raw).hexdigest()[:16])
