"""The static half of forbidden-op enforcement: a syntax-tree scan on the trusted side.

The run-time half records the aten ops each call dispatches (grader.boundary.oprecord, or
the Python fallback grader.boundary.worker.OpRecorder). The scan catches what a trace can
miss (torch.nn.LSTM dispatches only matmuls on some builds) and names the offending line. It
works in two steps: a Resolver works out what each name, attribute and `getattr(x, "const")`
denotes (imports and aliases, the student's own functions, classes and their instances,
Python's builtins), then the check flags only PyTorch's forbidden objects: `F.softmax` after
`import torch.nn.functional as F` is torch's; the student's `self.softmax =
Softmax(dim=-1)`, `self.pool.backward(dout)`, a helper `conv2d_stride1` and `from builtins
import range` are theirs and free. What the resolver cannot follow (a parameter, a call's
result: possibly a tensor) is judged by the attribute's name, as a tensor method would be,
where torch has that name (a cache's own `lstm_gates` field is not the library's).
The scan follows a module's own helpers, so a forbidden call inside a helper taints every
top-level name using it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

from grader.engine import syntax

# Autograd does the assignment's work for the student in every assignment.
ALWAYS_FORBIDDEN = (
    "torch.autograd", "torch.autograd.*", "*.backward", "*.requires_grad", "*.requires_grad_",
    "torch.func", "torch.func.*", "functorch", "functorch.*", "torch.enable_grad",
)

# What the run-time record (grader.boundary.worker.FunctionRecorder: torch-level functions by
# __name__) counts as autograd in every assignment: Tensor.backward, Tensor.requires_grad_,
# torch.autograd.grad and torch.autograd.backward. It backs up the static scan where the scan
# cannot tell a tensor from the student's object (`cache.backward(dout)`, below). (The native
# recorder names no functions: its autograd flag, set by an op on a tensor that requires
# grad or a node the engine runs, is what catches these there.)
AUTOGRAD_FUNCTIONS = ("backward", "requires_grad_", "grad")


# Reaching into the grader, the interpreter or the dispatcher is never part of an
# assignment: it is how a submission would disable the run-time op record or look for
# expected values. Computed names (getattr(torch, "re" + "lu")) are left to the run-time
# record, which these keep out of reach.
TAMPERING = (
    "grader", "grader.*", "torch.utils._python_dispatch", "torch.utils._python_dispatch.*",
    "torch._C", "torch._C.*", "torch.overrides", "torch.overrides.*", "torch._ops",
    "torch._ops.*", "*.__torch_dispatch__", "*.__torch_function__", "gc", "gc.*",
    "inspect", "inspect.*", "ctypes", "ctypes.*", "_ctypes", "_ctypes.*", "numpy.ctypeslib",
    "numpy.ctypeslib.*", "importlib", "importlib.*", "builtins",
    "builtins.*", "sys.modules", "sys._getframe", "sys.settrace", "sys.setprofile",
    "sys.addaudithook", "*.f_back", "*.f_locals", "*.f_globals", "*.tb_frame", "*.gi_frame",
    "*.cr_frame", "*.__globals__", "*.__subclasses__", "*.__builtins__",
)
TAMPERING_BUILTINS = frozenset({"eval", "exec", "compile", "__import__", "globals", "vars",
                                "breakpoint", "__builtins__", "__loader__", "__spec__"})

# What reaches the grader's internals by other routes than a plain import (internals()):
# an attribute named like these on anything, and string constants (after folding
# concatenations of constants) naming them or the grader's modules. Not "modules" alone:
# a class-style solution may have self.modules; sys itself is the flagged step.
INTERNAL_ATTRIBUTES = frozenset({
    "sys", "_getframe", "_current_frames", "f_back", "f_locals", "f_globals",
    "f_code", "tb_frame", "gi_frame", "cr_frame", "__globals__", "__closure__", "__code__",
    "cell_contents", "__subclasses__", "__builtins__", "get_objects", "get_referrers",
    "get_referents", "_python_dispatch", "__torch_dispatch__", "_pop_mode",
    "_pop_torch_dispatch_stack", "_get_dispatch_stack_at", "_unset_dispatch_mode",
    "_DisableTorchDispatch", "_ExcludeDispatchKeyGuard", "_enable_record_function",
    "_clear_callbacks", "ctypes", "_ctypes", "ctypeslib"})
INTERNAL_STRINGS = INTERNAL_ATTRIBUTES | frozenset({
    "gc", "ctypes", "inspect", "importlib", "builtins", "grader", "_C", "OpRecorder",
    "FunctionRecorder", "Worker", "TorchDispatchMode", "TorchFunctionMode", "NativeRecorder",
    "oprecord"})

MODULE_LEVEL = "<module>"
"""scan()'s key for forbidden uses outside any function (they taint every function)."""


@dataclass(frozen=True)
class Use:
    """A forbidden name used by the submission."""

    name: str
    """The resolved dotted name, e.g. torch.nn.functional.conv2d."""
    line: int

    def __str__(self) -> str:
        return f"{self.name} (line {self.line})"


def _matches(dotted: str, attr: str | None, python_patterns, aten_patterns) -> bool:
    if any(fnmatchcase(dotted, p) for p in python_patterns):
        return True
    # Tensor methods and torch.* functions share names with the aten ops they dispatch
    # (x.softmax, torch.relu): match the attribute's own name against the aten list.
    return attr is not None and any(fnmatchcase(attr, p) for p in aten_patterns)


@lru_cache(maxsize=1)
def _torch_names() -> frozenset[str]:
    """Every name a PyTorch object answers to where an unresolved value may come from:
    the tensor's methods and the functions of torch and its functional namespaces."""
    import torch
    import torch.nn.functional

    spaces = (torch, torch.Tensor, torch.nn, torch.nn.functional, torch.special,
              torch.linalg, torch.fft, torch._VF, torch._C._VariableFunctions, torch._C._nn)
    return frozenset(n for space in spaces for n in dir(space))


@lru_cache(maxsize=4096)
def may_be_torchs(attr: str) -> bool:
    """Whether `attr`, read off a value the resolver cannot follow, could be a PyTorch
    object: a name torch uses, or an aten op's. Only such a name is judged against the aten
    list: a field of the student's own cache (a namedtuple's `lstm_gates`, a dataclass's
    `conv_input`) is not the library's, whatever its prefix, and scored 0 when it was."""
    if attr in _torch_names():
        return True
    import torch

    try:
        return hasattr(torch.ops.aten, attr)
    except Exception:  # noqa: BLE001 - an odd name the op registry refuses: not an op
        return False


# ------------------------------------------------------------------------ the resolver
#
# What an expression denotes, as a set of alternatives (a name bound in two places may
# denote either). Only two kinds can be PyTorch's: EXT, an object reached from an import
# (its full dotted name is known), and UNKNOWN, anything the scan cannot follow (a
# parameter, a call's result: it may be a tensor, so `x.softmax` is judged by the name
# `softmax`). The student's own objects (their functions and classes, instances of their
# classes, containers of those) and Python's builtins are never PyTorch's, whatever
# they are called: `self.softmax`, `self.pool.backward`, `from builtins import range`.

EXT, UNKNOWN, OWN, INSTANCE, CONTAINER, BUILTIN = (
    "ext", "unknown", "own", "instance", "container", "builtin")
_MAX_ALTERNATIVES = 32
_CONTAINER_CALLS = frozenset({"list", "tuple", "reversed", "sorted", "iter"})
_BUILTIN_NAMES = frozenset(dir(__import__("builtins")))


@dataclass(frozen=True)
class Ref:
    """One thing an expression may denote."""

    kind: str
    name: str = ""
    """EXT: the full dotted name (torch.nn.functional.softmax); BUILTIN: the builtin's name;
    OWN: the student's class (when it is a class object) or ""; otherwise unused."""
    classes: frozenset = frozenset()
    """INSTANCE: the student's classes it may be an instance of."""
    elements: frozenset = frozenset()
    """CONTAINER: what its elements may denote (Refs)."""


_UNKNOWN = frozenset({Ref(UNKNOWN)})
_OWN = frozenset({Ref(OWN)})


def _ext(dotted: str) -> Ref:
    # `from builtins import range` and `builtins.range` are Python's range, not an import.
    if dotted.startswith("builtins.") and dotted.count(".") == 1:
        return Ref(BUILTIN, dotted.split(".", 1)[1])
    return Ref(EXT, dotted)


def _union(*sets) -> frozenset:
    out = frozenset().union(*sets)
    return _UNKNOWN if len(out) > _MAX_ALTERNATIVES else out


def _const_getattr(node) -> tuple[ast.expr, str] | None:
    """(object, name) for `getattr(obj, "name")` or `getattr(obj, "name", default)`."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "getattr" and len(node.args) in (2, 3)
            and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
        return node.args[0], node.args[1].value
    return None


_FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


class _Scope:
    """The names a function (or the module) binds, each with how it is bound."""

    def __init__(self, node, parent: _Scope | None):
        self.node = node
        self.parent = parent
        self.bindings: dict[str, list[tuple]] = {}
        """name -> [(how, payload)]: ("expr", e) bound to e's value; ("iter", e) to an
        element of e; ("refs", Refs); ("unknown", None)."""
        self.appended: dict[str, list[ast.expr]] = {}
        """name -> expressions added to it as a container (x.append(e), x[k] = e)."""
        self.skip: set[str] = set()
        """Names declared global or nonlocal: bound elsewhere."""

    def bind(self, name: str, how: str, payload=None) -> None:
        if name not in self.skip:
            self.bindings.setdefault(name, []).append((how, payload))


_RECORD_MAKERS = frozenset({"namedtuple", "NamedTuple", "make_dataclass", "SimpleNamespace"})


def _record_fields(tree: ast.AST) -> set[str]:
    """The field names of the records a module makes: namedtuple("C", "a b") or ["a", "b"],
    NamedTuple("C", [("a", T)]), make_dataclass("C", ["a", ("b", T)]),
    SimpleNamespace(a=...)."""
    fields: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name not in _RECORD_MAKERS:
            continue
        fields.update(k.arg for k in node.keywords if k.arg is not None)
        spec = [k.value for k in node.keywords if k.arg in ("field_names", "fields")]
        for arg in [*node.args[1:2], *spec]:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                fields.update(arg.value.replace(",", " ").split())
            elif isinstance(arg, (ast.List, ast.Tuple)):
                for e in arg.elts:
                    if isinstance(e, (ast.Tuple, ast.List)) and e.elts:
                        e = e.elts[0]
                    if isinstance(e, ast.Constant) and isinstance(e.value, str):
                        fields.add(e.value)
    return fields


class Resolver:
    """Resolves what each name, attribute and `getattr(x, "const")` in a module denotes.

    Flow-insensitive: a name denotes every value it is bound to anywhere in its scope.
    Python's scoping is followed closely enough for that purpose (function locals,
    enclosing functions, module globals, builtins; a method's first parameter is an
    instance of its class; attributes assigned through it are that class's)."""

    def __init__(self, tree: ast.Module):
        self.imports = _import_aliases(tree)
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.classes: dict[str, list[ast.ClassDef]] = {}
        self.scopes: dict[ast.AST, _Scope] = {}
        self.module = self._collect(tree, None)

        # class name -> attribute -> [(how, payload, scope)], and appended elements
        self.attrs: dict[str, dict[str, list[tuple]]] = {}
        self.attr_appended: dict[str, dict[str, list[tuple]]] = {}
        for name, defs in self.classes.items():
            for cls in defs:
                self._collect_class(name, cls)
        self._memo: dict[tuple, frozenset] = {}
        self.own_attributes = {attr for attrs in self.attrs.values() for attr in attrs}
        self.own_attributes |= _record_fields(tree)
        """Attribute names the student's classes define (methods, class attributes,
        attributes set through `self`, annotated fields) and the fields of the records it
        makes (namedtuple, NamedTuple, make_dataclass, SimpleNamespace)."""

    # ---- collection

    def scope_of(self, node) -> _Scope:
        """The innermost function scope holding `node` (the module's when none)."""
        p = self.parents.get(node)
        while p is not None:
            if isinstance(p, _FUNCTION_NODES) and node is not p:
                if p not in self.scopes:  # e.g. a lambda in a class body or a base list
                    self._collect(p, self.scope_of(p))
                return self.scopes[p]
            p = self.parents.get(p)
        return self.module

    def _collect(self, node, parent: _Scope | None) -> _Scope:
        scope = _Scope(node, parent)
        self.scopes[node] = scope
        if isinstance(node, _FUNCTION_NODES):
            args = node.args
            params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            params += [a for a in (args.vararg, args.kwarg) if a is not None]
            owner = self.parents.get(node)
            method_of = owner.name if isinstance(owner, ast.ClassDef) and not isinstance(
                node, ast.Lambda) and node in owner.body else None
            decorators = {d.id for d in getattr(node, "decorator_list", [])
                          if isinstance(d, ast.Name)}
            for i, a in enumerate(params):
                if i == 0 and method_of and "staticmethod" not in decorators:
                    kind = (Ref(OWN, method_of) if "classmethod" in decorators
                            else Ref(INSTANCE, classes=frozenset({method_of})))
                    scope.bind(a.arg, "refs", frozenset({kind}))
                else:
                    scope.bind(a.arg, "unknown")
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Global, ast.Nonlocal)):
                    scope.skip.update(sub.names)
            body = [node.body] if isinstance(node, ast.Lambda) else node.body
        else:
            body = node.body
        for stmt in body:
            self._visit(stmt, scope)
        return scope

    def _visit(self, node, scope: _Scope) -> None:
        """Record what `node` binds in `scope`, without entering nested functions."""
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope.bind(node.name, "refs", _OWN)
            for d in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
                if d is not None:
                    self._visit(d, scope)
            self._collect(node, scope)
            return
        if isinstance(node, ast.Lambda):
            self._collect(node, scope)
            return
        if isinstance(node, ast.ClassDef):
            scope.bind(node.name, "refs", frozenset({Ref(OWN, node.name)}))
            self.classes.setdefault(node.name, []).append(node)
            for stmt in node.body:  # class bodies bind class attributes, visited below
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self._collect(stmt, scope)
                elif isinstance(stmt, ast.ClassDef):
                    self._visit(stmt, scope)
            return
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is not None:
                for t in targets:
                    self._bind_target(t, "expr", node.value, scope)
        elif isinstance(node, ast.AugAssign):
            self._bind_target(node.target, "unknown", None, scope)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            self._bind_target(node.target, "iter", node.iter, scope)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) \
                and not isinstance(scope.node, ast.Module):
            for a in node.names:
                local = a.asname or a.name.split(".")[0]
                if local in self.imports:
                    scope.bind(local, "refs", frozenset({_ext(self.imports[local])}))
        elif isinstance(node, (ast.withitem,)) and node.optional_vars is not None:
            self._bind_target(node.optional_vars, "unknown", None, scope)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            scope.bind(node.name, "unknown")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("append", "extend", "insert", "add") and node.args:
            item = node.args[-1]
            self._add_element(node.func.value, node.func.attr == "extend", item, scope)
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Subscript):
                    self._add_element(t.value, False, node.value, scope)
        for child in ast.iter_child_nodes(node):
            self._visit(child, scope)

    def _add_element(self, target, spread: bool, item, scope: _Scope) -> None:
        if isinstance(target, ast.Name):
            scope.appended.setdefault(target.id, []).append(("iter" if spread else "expr",
                                                             item))

    def _bind_target(self, target, how: str, value, scope: _Scope) -> None:
        if isinstance(target, ast.Name):
            scope.bind(target.id, how, value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            elts = target.elts
            pairs = None
            if how == "expr" and isinstance(value, (ast.Tuple, ast.List)) \
                    and len(value.elts) == len(elts):
                pairs = [(e, "expr", v) for e, v in zip(elts, value.elts)]
            elif how == "iter" and isinstance(value, ast.Call) \
                    and isinstance(value.func, ast.Name) and len(elts) == 2 \
                    and value.func.id == "enumerate" and value.args:
                pairs = [(elts[0], "unknown", None), (elts[1], "iter", value.args[0])]
            elif how == "iter" and isinstance(value, ast.Call) \
                    and isinstance(value.func, ast.Name) and value.func.id == "zip" \
                    and len(value.args) == len(elts):
                pairs = [(e, "iter", v) for e, v in zip(elts, value.args)]
            elif how == "iter" and isinstance(value, ast.Call) and len(elts) == 2 \
                    and isinstance(value.func, ast.Attribute) and value.func.attr == "items":
                pairs = [(elts[0], "unknown", None), (elts[1], "iter", value.func.value)]
            for e, h, v in pairs or [(e, "unknown", None) for e in elts]:
                self._bind_target(e, h, v, scope)
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value, "unknown", None, scope)
        # attributes and subscripts bind no name (self.x = ... is collected per class)

    def _collect_class(self, name: str, cls: ast.ClassDef) -> None:
        attrs = self.attrs.setdefault(name, {})
        appended = self.attr_appended.setdefault(name, {})
        outer = self.scope_of(cls)
        for stmt in cls.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                attrs.setdefault(stmt.name, []).append(("refs", _OWN, outer))
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        attrs.setdefault(t.id, []).append(("expr", stmt.value, outer))
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                # a field of a NamedTuple or a dataclass: set by its constructor
                attrs.setdefault(stmt.target.id, []).append(("unknown", None, outer))
            if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            scope = self.scopes[stmt]
            params = [*stmt.args.posonlyargs, *stmt.args.args]
            if not params or not any(h == "refs" and any(r.kind in (INSTANCE, OWN) and
                                                         (name in r.classes or r.name == name)
                                                         for r in p)
                                     for h, p in scope.bindings.get(params[0].arg, [])):
                continue
            me = params[0].arg

            def is_me(e, me=me) -> bool:
                return isinstance(e, ast.Name) and e.id == me

            for sub in ast.walk(stmt):
                targets = []
                if isinstance(sub, ast.Assign):
                    targets = [(t, sub.value) for t in sub.targets]
                elif isinstance(sub, (ast.AnnAssign, ast.AugAssign)) and sub.value is not None:
                    targets = [(sub.target, sub.value if isinstance(sub, ast.AnnAssign)
                                else None)]
                for t, v in targets:
                    if isinstance(t, ast.Attribute) and is_me(t.value):
                        how = "expr" if v is not None else "unknown"
                        attrs.setdefault(t.attr, []).append((how, v, self.scope_of(sub)))
                    elif isinstance(t, ast.Subscript) and isinstance(t.value, ast.Attribute) \
                            and is_me(t.value.value):
                        appended.setdefault(t.value.attr, []).append(
                            ("expr", v, self.scope_of(sub)))
                    elif isinstance(t, (ast.Tuple, ast.List)):
                        for e in ast.walk(t):
                            if isinstance(e, ast.Attribute) and is_me(e.value):
                                attrs.setdefault(e.attr, []).append(("unknown", None, None))
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) \
                        and isinstance(sub.func.value, ast.Attribute) \
                        and is_me(sub.func.value.value) and sub.args \
                        and sub.func.attr in ("append", "extend", "insert", "add"):
                    how = "iter" if sub.func.attr == "extend" else "expr"
                    appended.setdefault(sub.func.value.attr, []).append(
                        (how, sub.args[-1], self.scope_of(sub)))
                elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) \
                        and sub.func.id == "setattr" and len(sub.args) == 3 \
                        and is_me(sub.args[0]) and isinstance(sub.args[1], ast.Constant) \
                        and isinstance(sub.args[1].value, str):
                    attrs.setdefault(sub.args[1].value, []).append(
                        ("expr", sub.args[2], self.scope_of(sub)))

    # ---- resolution

    def _memoized(self, key, compute) -> frozenset:
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = _UNKNOWN  # a cycle (h = h2; h2 = h) is unknown: judged by name
        out = compute()
        self._memo[key] = out
        return out

    def _binding(self, how: str, payload, scope: _Scope) -> frozenset:
        if how == "refs":
            return payload
        if how == "expr":
            return self.denote(payload, scope)
        if how == "iter":
            return self.elements(self.denote(payload, scope))
        return _UNKNOWN

    def elements(self, refs: frozenset) -> frozenset:
        out = []
        for r in refs:
            out.append(r.elements if r.kind == CONTAINER and r.elements else _UNKNOWN)
        return _union(*out)

    def name(self, ident: str, scope: _Scope) -> frozenset:
        """What the name `ident` denotes when read in `scope`."""
        s = scope
        while s is not None:
            if ident in s.bindings and ident not in s.skip:
                return self._memoized(("name", id(s), ident),
                                      lambda s=s: self._name_in(ident, s))
            s = s.parent
        if ident in self.imports:  # imported inside some function: judged as imported
            return frozenset({_ext(self.imports[ident])})
        if ident in _BUILTIN_NAMES:
            return frozenset({Ref(BUILTIN, ident)})
        return _UNKNOWN

    def _name_in(self, ident: str, s: _Scope) -> frozenset:
        values = [self._binding(h, p, s) for h, p in s.bindings[ident]]
        if ident in self.imports and s is self.module:
            values.append(frozenset({_ext(self.imports[ident])}))
        out = _union(*values)
        extra = [self._binding(h, p, s) for h, p in s.appended.get(ident, [])]
        return self._with_elements(out, extra)

    @staticmethod
    def _with_elements(refs: frozenset, extra: list[frozenset]) -> frozenset:
        if not extra:
            return refs
        more = _union(*extra)
        return _union(*[frozenset({Ref(CONTAINER, elements=_union(r.elements, more))})
                        if r.kind == CONTAINER else frozenset({r}) for r in refs])

    def lookup(self, cls: str, attr: str, seen=frozenset()) -> frozenset | None:
        """What `attr` of the student's class `cls` (or its instances) denotes; None when
        neither it nor its bases define it."""
        if cls in seen:
            return None
        return self._memoized(("attr", cls, attr), lambda: self._lookup(cls, attr, seen))

    def _lookup(self, cls: str, attr: str, seen) -> frozenset | None:
        found = self.attrs.get(cls, {}).get(attr)
        if found:
            out = _union(*[self._binding(h, p, s) for h, p, s in found])
            extra = [self._binding(h, p, s)
                     for h, p, s in self.attr_appended.get(cls, {}).get(attr, [])]
            return self._with_elements(out, extra)
        external = []
        for base in self.bases(cls):
            if base.kind == OWN and base.name:
                got = self.lookup(base.name, attr, seen | {cls})
                if got is not None:
                    return got
            elif base.kind == EXT:
                external.append(frozenset({Ref(EXT, f"{base.name}.{attr}")}))
            elif base.kind != BUILTIN:
                external.append(_UNKNOWN)
        return _union(*external) if external else None

    def bases(self, cls: str) -> list[Ref]:
        out = []
        for node in self.classes.get(cls, []):
            scope = self.scope_of(node)
            for b in node.bases:
                out.extend(self.denote(b, scope))
        return out

    def attribute(self, base: frozenset, attr: str) -> frozenset:
        """What `x.attr` denotes when `x` denotes `base`."""
        out = []
        for r in base:
            if r.kind == EXT:
                out.append(frozenset({_ext(f"{r.name}.{attr}")}))
            elif r.kind in (INSTANCE, OWN) and (r.classes or r.name):
                for c in r.classes or {r.name}:
                    got = self.lookup(c, attr)
                    # never set in the class (set from outside, or missing): could be
                    # a tensor (obj.x = x; obj.x.softmax()), so judged by names after it
                    out.append(_UNKNOWN if got is None else got)
            elif r.kind == UNKNOWN:
                out.append(_UNKNOWN)
            else:  # a function's, a builtin's or a list's attribute
                out.append(_OWN)
        return _union(*out)

    def denote(self, node, scope: _Scope | None = None) -> frozenset:
        """What the expression `node` may denote (a frozenset of Refs)."""
        if scope is None:
            scope = self.scope_of(node)
        if isinstance(node, ast.Name):
            return self.name(node.id, scope)
        if isinstance(node, ast.Attribute):
            return self.attribute(self.denote(node.value, scope), node.attr)
        if isinstance(node, ast.Call):
            ga = _const_getattr(node)
            if ga is not None:
                return self.attribute(self.denote(ga[0], scope), ga[1])
            func = self.denote(node.func, scope)
            if isinstance(node.func, ast.Name) and node.func.id == "super" \
                    and func == {Ref(BUILTIN, "super")}:
                cls = self._enclosing_class(node)
                return (frozenset({Ref(INSTANCE, classes=frozenset(
                    b.name for b in self.bases(cls) if b.kind == OWN and b.name))})
                    if cls and all(b.kind in (OWN, BUILTIN) for b in self.bases(cls))
                    else _UNKNOWN)
            out = []
            for r in func:
                if r.kind == OWN and r.name:  # a student's class called: an instance
                    out.append(frozenset({Ref(INSTANCE, classes=frozenset({r.name}))}))
                elif r.kind == BUILTIN and r.name in _CONTAINER_CALLS and node.args:
                    arg = self.denote(node.args[0], scope)
                    out.append(frozenset({Ref(CONTAINER, elements=self.elements(arg))}))
                else:  # whatever a function returns may be a tensor
                    out.append(_UNKNOWN)
            return _union(*out)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            elts = [self.denote(e, scope) if not isinstance(e, ast.Starred)
                    else self.elements(self.denote(e.value, scope)) for e in node.elts]
            return frozenset({Ref(CONTAINER, elements=_union(*elts))})
        if isinstance(node, ast.Dict):
            vals = [self.denote(v, scope) for v in node.values]
            return frozenset({Ref(CONTAINER, elements=_union(*vals))})
        if isinstance(node, ast.Subscript):
            return self.elements(self.denote(node.value, scope))
        if isinstance(node, ast.IfExp):
            return _union(self.denote(node.body, scope), self.denote(node.orelse, scope))
        if isinstance(node, ast.NamedExpr):
            return self.denote(node.value, scope)
        if isinstance(node, (ast.Lambda, ast.Constant, ast.JoinedStr)):
            return _OWN
        return _UNKNOWN

    def _enclosing_class(self, node) -> str | None:
        p = self.parents.get(node)
        while p is not None and not isinstance(p, ast.ClassDef):
            p = self.parents.get(p)
        return p.name if p is not None else None


def _import_aliases(tree: ast.Module) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    aliases[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


# ------------------------------------------------------------------------ the check


def _tampering_builtin(name: str) -> bool:
    return name in TAMPERING_BUILTINS or name.startswith("__")


def _direct_uses(node, resolver: Resolver, python_patterns, aten_patterns, *,
                 own_is_free: bool = True) -> list[Use]:
    """The forbidden objects `node` reaches directly, as resolved by `resolver`.

    `own_is_free`: an attribute of the student's own object is theirs whatever its name
    (their `self.softmax`); False for patterns about reaching the interpreter (`f_back`,
    `__globals__`), which are dangerous on any object."""
    uses = []

    def check_attr(sub, base_node, attr: str) -> None:
        for r in resolver.denote(base_node):
            if r.kind == EXT:
                if r.name == "builtins":
                    if _tampering_builtin(attr) and python_patterns is TAMPERING:
                        uses.append(Use(attr, sub.lineno))
                    continue
                full = f"{r.name}.{attr}"
                if _matches(full, attr, python_patterns, aten_patterns):
                    uses.append(Use(full, sub.lineno))
            elif r.kind == UNKNOWN and own_is_free and attr in resolver.own_attributes:
                # `cache.backward(dout)`, `cache.lstm_cell`, the cache being the student's
                # layer object: a parameter's type is unknown, and the student's classes
                # define an attribute by this name. Were it a tensor after all, the
                # run-time record still sees the op (aten ops; AUTOGRAD_FUNCTIONS).
                continue
            elif r.kind == UNKNOWN or (not own_is_free and r.kind != BUILTIN):
                text = _text(sub)
                # By its name only where the name could be torch's (x.softmax, m.lstm_cell):
                # the interpreter's names (own_is_free False) are judged on any object.
                named = attr if (not own_is_free or may_be_torchs(attr)) else None
                if _matches(text, named, python_patterns, aten_patterns):
                    uses.append(Use(text, sub.lineno))
            elif r.kind in (INSTANCE, OWN) and (r.classes or r.name):
                # inherited from a library base (class T(torch.Tensor): self.softmax())
                for c in r.classes or {r.name}:
                    if resolver.lookup(c, attr) is None:
                        continue
                    if c in resolver.attrs and attr in resolver.attrs[c]:
                        continue
                    for inherited in resolver.lookup(c, attr):
                        if inherited.kind == EXT and _matches(
                                inherited.name, attr, python_patterns, aten_patterns):
                            uses.append(Use(inherited.name, sub.lineno))

    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            check_attr(sub, sub.value, sub.attr)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            parent = resolver.parents.get(sub)
            for r in resolver.name(sub.id, resolver.scope_of(sub)):
                if r.kind == EXT:
                    if r.name == "builtins" and (
                            isinstance(parent, ast.Attribute) or (
                            _const_getattr(parent) is not None and parent.args[0] is sub)):
                        continue  # builtins.range: judged as an attribute
                    if any(fnmatchcase(r.name, p) for p in python_patterns):
                        uses.append(Use(r.name, sub.lineno))
                elif r.kind == BUILTIN and python_patterns is TAMPERING \
                        and _tampering_builtin(r.name) and r.name != sub.id:
                    uses.append(Use(r.name, sub.lineno))  # from builtins import exec as e
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            for a in sub.names:
                full = (f"{sub.module}.{a.name}" if isinstance(sub, ast.ImportFrom)
                        and sub.module else a.name)
                ref = _ext(full)
                if ref.kind == BUILTIN or full == "builtins":
                    if ref.kind == BUILTIN and _tampering_builtin(ref.name) \
                            and python_patterns is TAMPERING:
                        uses.append(Use(full, sub.lineno))
                    continue  # Python's own builtins: only their uses are judged
                if any(fnmatchcase(full, p) for p in python_patterns):
                    uses.append(Use(full, sub.lineno))
        elif _const_getattr(sub) is not None:
            obj, attr = _const_getattr(sub)
            check_attr(sub, obj, attr)
    return uses


def _folded(node) -> str | None:
    """The value of a string expression built from constants only ("sy" + "s",
    "".join(["gr", "ader"]), f"{'sys'}"), or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _folded(node.left), _folded(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.JoinedStr):
        parts = [_folded(v.value) if isinstance(v, ast.FormattedValue) else _folded(v)
                 for v in node.values]
        return None if any(p is None for p in parts) else "".join(parts)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join" and len(node.args) == 1
            and isinstance(node.args[0], (ast.List, ast.Tuple))):
        sep = _folded(node.func.value)
        parts = [_folded(e) for e in node.args[0].elts]
        return None if sep is None or any(p is None for p in parts) else sep.join(parts)
    return None


_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def _names_internals(text: str) -> bool:
    """Whether a string is such a name, or a dotted path through one ("grader.boundary",
    "torch._C._pop_torch_dispatch_stack"); prose (a docstring that mentions sys.modules)
    is neither."""
    if text in INTERNAL_STRINGS:
        return True
    return bool(_DOTTED.fullmatch(text)) and any(p in INTERNAL_STRINGS for p in text.split("."))


def internals(tree: ast.AST) -> list[Use]:
    """Where a submission reaches the grader's or the interpreter's internals through
    routes an import list does not show: an attribute such as `os.sys.modules`,
    `f.__closure__` or `frame.f_back` on anything, or a string (constants folded) naming
    them or a grader module, as a computed getattr or `sys.modules[...]` needs. No
    assignment needs any of these; the worker's op record and its reply are what they
    would reach (grader.boundary.canary catches what gets past)."""
    uses = []
    seen_strings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in INTERNAL_ATTRIBUTES:
            uses.append(Use(_text(node), node.lineno))
        elif isinstance(node, (ast.BinOp, ast.JoinedStr, ast.Call, ast.Constant)) \
                and id(node) not in seen_strings:
            text = _folded(node)
            if text is None:
                continue
            for sub in ast.walk(node):  # report the whole expression once
                seen_strings.add(id(sub))
            if _names_internals(text.strip()):
                uses.append(Use(f"string {text.strip()[:80]!r}", node.lineno))
    return uses


def _text(node) -> str:
    """The source text of an attribute chain, for messages and name patterns."""
    if isinstance(node, ast.Attribute):
        return f"{_text(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    ga = _const_getattr(node)
    if ga is not None:
        return f"{_text(ga[0])}.{ga[1]}"
    return "<expr>"


def _names_used(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _names_bound(stmt) -> set[str]:
    """Top-level names a module-level statement binds. A function's or class's own
    locals are not top-level names (only its name, and names it declares `global`), or a
    forbidden call in one function would taint every function using a same-named local."""
    out = set()

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
            for n in ast.walk(node):
                if isinstance(n, ast.Global):
                    out.update(n.names)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(stmt)
    return out


def _shadowed_builtins(source: str) -> frozenset[str]:
    """The tampering builtins' names that never mean the builtin anywhere in `source`:
    every scope that uses one binds it for itself (`vars = x.var(0)`, a parameter `eval`),
    by Python's own scoping (symtable: a comprehension's variable, a default evaluated
    outside its function). A name the module level or a class body touches at all, or
    that some function reads without binding, is not one of them."""
    import symtable

    try:
        top = symtable.symtable(source, "submission", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset()
    free = set(TAMPERING_BUILTINS)
    seen: set[str] = set()
    tables = [top]
    while tables:
        table = tables.pop()
        tables.extend(table.get_children())
        for name in TAMPERING_BUILTINS:
            try:
                sym = table.lookup(name)
            except KeyError:
                continue
            seen.add(name)
            if table.get_type() != "function" or not (sym.is_local() or sym.is_free()):
                free.discard(name)
    return frozenset(free & seen)


def _is_main_guard(stmt) -> bool:
    """`if __name__ == "__main__":` (either way round)."""
    if not isinstance(stmt, ast.If) or not isinstance(stmt.test, ast.Compare):
        return False
    test = stmt.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    return (any(isinstance(x, ast.Name) and x.id == "__name__" for x in sides)
            and any(isinstance(x, ast.Constant) and x.value == "__main__" for x in sides))


def _main_block_never_runs(tree: ast.Module) -> bool:
    """Whether nothing in the module can make `__name__` "__main__" when the grader
    imports it under the assignment's module name: no store to a name or attribute
    `__name__`, no setattr, no `__dict__` (globals(), vars() and sys.modules are
    tampering, judged on their own)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and (
                node.id in ("setattr", "__dict__")
                or node.id == "__name__" and not isinstance(node.ctx, ast.Load)):
            return False
        if isinstance(node, ast.Attribute) and (
                node.attr in ("__dict__", "setattr")
                or node.attr == "__name__" and not isinstance(node.ctx, ast.Load)):
            return False
        if isinstance(node, (ast.Global, ast.Nonlocal)) and "__name__" in node.names:
            return False
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and "__name__" in node.value:
            return False
    return True


class Taint(dict):
    """scan()'s result. A name the scan never saw bound (e.g. a function made by exec)
    inherits the module-level uses: `get` never answers "clean" for it when the module
    tampers."""

    def get(self, key, default=None):
        if key in self:
            return self[key]
        return super().get(MODULE_LEVEL, default)


def scan(source: str, python_patterns=(), aten_patterns=()) -> dict[str, list[Use]]:
    """Map each top-level name (function, class, variable) to the forbidden uses it reaches.

    A name is tainted when its definition uses a forbidden name directly, or refers to
    another tainted top-level name. Code that runs at import time and binds no name (a
    bare call, `torch.Tensor.x = ...`, a loop) may change anything, so its forbidden uses
    taint every top-level name (and are listed under MODULE_LEVEL); the body of an
    `if __name__ == "__main__":` block, which the grader's import never runs, does not
    (unless something in the module could make it run). Raises SyntaxError for
    unparsable code.
    """
    python_patterns = tuple(python_patterns) + ALWAYS_FORBIDDEN
    tree = syntax.parse(source)
    resolver = Resolver(tree)
    direct: dict[str, list[Use]] = {}
    refs: dict[str, set[str]] = {}
    # Tampering anywhere (even in a function never called by a test) taints everything.
    named = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in TAMPERING_BUILTINS]
    shadowed = _shadowed_builtins(source) if named else frozenset()  # a second parse: rare
    module_uses: list[Use] = _direct_uses(tree, resolver, TAMPERING, (),
                                          own_is_free=False) + [
        Use(n.id, n.lineno) for n in named if n.id not in shadowed] + internals(tree)
    main_never_runs = _main_block_never_runs(tree)
    for stmt in tree.body:
        if main_never_runs and _is_main_guard(stmt):
            # The student's own checks (they may call F.relu to compare): never run on
            # import. Tampering in them was judged above, over the whole module.
            uses = [u for s in stmt.orelse
                    for u in _direct_uses(s, resolver, python_patterns, aten_patterns)]
        else:
            uses = _direct_uses(stmt, resolver, python_patterns, aten_patterns)
        bound = _names_bound(stmt)
        if not bound or not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef,
                                              ast.ClassDef, ast.Assign, ast.AnnAssign,
                                              ast.Import, ast.ImportFrom)):
            module_uses.extend(uses)
        for name in bound:
            direct.setdefault(name, []).extend(uses)
            refs.setdefault(name, set()).update(_names_used(stmt) - {name})
    if module_uses:
        module_uses = sorted(set(module_uses), key=lambda u: (u.line, u.name))
        direct[MODULE_LEVEL] = module_uses
        for name in list(direct):
            direct[name] = direct[name] + [u for u in module_uses if u not in direct[name]]
    tainted = {n: list(u) for n, u in direct.items() if u}
    changed = True
    while changed:
        changed = False
        for name, used in refs.items():
            for other in used:
                if other in tainted and other != name:
                    before = len(tainted.get(name, []))
                    merged = {(u.name, u.line): u for u in tainted.get(name, []) + tainted[other]}
                    if len(merged) != before:
                        tainted[name] = sorted(merged.values(), key=lambda u: u.line)
                        changed = True
    return Taint(tainted)
