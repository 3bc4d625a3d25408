"""The static half of forbidden-op enforcement: a syntax-tree scan on the trusted side.

The run-time half records the aten ops each call dispatches (grader.boundary.worker.OpRecorder).
The scan catches what a trace can miss (torch.nn.LSTM dispatches only matmuls on some
builds) and names the offending line. It resolves import aliases (`import
torch.nn.functional as F; F.conv2d` is `torch.nn.functional.conv2d`) and follows a
module's own helpers, so a forbidden call inside a helper taints every function using it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

# Autograd does the assignment's work for the student in every assignment.
ALWAYS_FORBIDDEN = (
    "torch.autograd", "torch.autograd.*", "*.backward", "*.requires_grad", "*.requires_grad_",
    "torch.func", "torch.func.*", "functorch", "functorch.*", "torch.enable_grad",
)


# Reaching into the grader, the interpreter or the dispatcher is never part of an
# assignment: it is how a submission would disable the run-time op record or look for
# expected values. Computed names (getattr(torch, "re" + "lu")) are left to the run-time
# record, which these keep out of reach.
TAMPERING = (
    "grader", "grader.*", "torch.utils._python_dispatch", "torch.utils._python_dispatch.*",
    "torch._C", "torch._C.*", "torch.overrides", "torch.overrides.*", "torch._ops",
    "torch._ops.*", "*.__torch_dispatch__", "*.__torch_function__", "gc", "gc.*",
    "inspect", "inspect.*", "ctypes", "ctypes.*", "importlib", "importlib.*", "builtins",
    "builtins.*", "sys.modules", "sys._getframe", "sys.settrace", "sys.setprofile",
    "sys.addaudithook", "*.f_back", "*.f_locals", "*.f_globals", "*.tb_frame", "*.gi_frame",
    "*.cr_frame", "*.__globals__", "*.__subclasses__", "*.__builtins__",
)
TAMPERING_BUILTINS = frozenset({"eval", "exec", "compile", "__import__", "globals", "vars",
                                "breakpoint", "__builtins__", "__loader__", "__spec__"})

# What reaches the grader's internals by other routes than a plain import (internals()):
# an attribute named like these on anything, and string constants (after folding
# concatenations of constants) naming them or the grader's modules.
INTERNAL_ATTRIBUTES = frozenset({
    "sys", "modules", "_getframe", "_current_frames", "f_back", "f_locals", "f_globals",
    "f_code", "tb_frame", "gi_frame", "cr_frame", "__globals__", "__closure__", "__code__",
    "cell_contents", "__subclasses__", "__builtins__", "get_objects", "get_referrers",
    "get_referents", "_python_dispatch", "__torch_dispatch__", "_pop_mode",
    "_pop_torch_dispatch_stack", "_get_dispatch_stack_at", "_unset_dispatch_mode",
    "_DisableTorchDispatch", "_ExcludeDispatchKeyGuard"})
INTERNAL_STRINGS = INTERNAL_ATTRIBUTES | frozenset({
    "gc", "ctypes", "inspect", "importlib", "builtins", "grader", "_C", "OpRecorder",
    "FunctionRecorder", "Worker", "TorchDispatchMode", "TorchFunctionMode"})

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


class _Resolver(ast.NodeVisitor):
    def __init__(self, aliases: dict[str, str]):
        self.aliases = aliases

    def dotted(self, node) -> str | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(self.aliases.get(node.id, node.id))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "getattr" and len(node.args) >= 2:
            return None
        else:
            parts.append("<expr>")
        return ".".join(reversed(parts))


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


def _direct_uses(node, resolver: _Resolver, python_patterns, aten_patterns) -> list[Use]:
    uses = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            dotted = resolver.dotted(sub)
            if dotted and _matches(dotted, sub.attr, python_patterns, aten_patterns):
                uses.append(Use(dotted, sub.lineno))
        elif isinstance(sub, ast.Name) and sub.id in resolver.aliases:
            dotted = resolver.aliases[sub.id]
            if dotted != sub.id and _matches(dotted, dotted.rsplit(".", 1)[-1],
                                             python_patterns, ()):
                uses.append(Use(dotted, sub.lineno))
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            for a in sub.names:
                full = (f"{sub.module}.{a.name}" if isinstance(sub, ast.ImportFrom)
                        and sub.module else a.name)
                if any(fnmatchcase(full, p) for p in python_patterns):
                    uses.append(Use(full, sub.lineno))
        elif (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)
              and sub.func.id == "getattr" and len(sub.args) >= 2
              and isinstance(sub.args[1], ast.Constant) and isinstance(sub.args[1].value, str)):
            base = resolver.dotted(sub.args[0]) or "<expr>"
            attr = sub.args[1].value
            if _matches(f"{base}.{attr}", attr, python_patterns, aten_patterns):
                uses.append(Use(f"{base}.{attr}", sub.lineno))
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
            uses.append(Use(_Resolver({}).dotted(node) or f"<expr>.{node.attr}", node.lineno))
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
    taint every top-level name (and are listed under MODULE_LEVEL). Raises SyntaxError
    for unparsable code.
    """
    python_patterns = tuple(python_patterns) + ALWAYS_FORBIDDEN
    tree = ast.parse(source)
    resolver = _Resolver(_import_aliases(tree))
    direct: dict[str, list[Use]] = {}
    refs: dict[str, set[str]] = {}
    # Tampering anywhere (even in a function never called by a test) taints everything.
    module_uses: list[Use] = _direct_uses(tree, resolver, TAMPERING, ()) + [
        Use(n.id, n.lineno) for n in ast.walk(tree)
        if isinstance(n, ast.Name) and n.id in TAMPERING_BUILTINS] + internals(tree)
    for stmt in tree.body:
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
