"""Forbidden-op enforcement: the static scan (tampering included) and the run-time record."""

from __future__ import annotations

import pytest

from grader.boundary.session import WorkerSession
from grader.engine import forbidden


def _scan(src: str):
    return forbidden.scan(src, ("torch.nn.functional.*",), ("relu",))


def test_helpers_and_aliases_are_followed():
    t = _scan("import torch.nn.functional as F\n"
              "def helper(x):\n    return F.relu(x)\n"
              "def f(x):\n    return helper(x)\n"
              "def g(x):\n    return x\n")
    assert [u.name for u in t["f"]] == ["torch.nn.functional.relu"]
    assert "g" not in t


def test_tampering_anywhere_taints_every_function():
    for src, name in [
        ("import grader.boundary.worker\ndef f(x):\n    return x\n", "grader.boundary.worker"),
        ("import torch\ndef f(x):\n    return x\n"
         "def unused():\n    torch.utils._python_dispatch._pop_mode()\n",
         "torch.utils._python_dispatch._pop_mode"),
        ("import gc\ndef f(x):\n    return x\n", "gc"),
        ("import inspect\ndef f(x):\n    return x\n", "inspect"),
        ("def f(x):\n    return x\nexec('def g(): pass')\n", "exec"),
        ("def f(x):\n    return x\n__import__('grader')\n", "__import__"),
        ("import sys\ndef f(x):\n    return sys._getframe(1).f_back\n", "sys._getframe"),
        # ctypes by other doors: numpy's ctypeslib, the C module under ctypes
        ("from numpy import ctypeslib\ndef f(x):\n    return x\n", "numpy.ctypeslib"),
        ("import _ctypes\ndef f(x):\n    return x\n", "_ctypes"),
    ]:
        t = _scan(src)
        assert name in [u.name for u in t.get("f", [])], (src, t)
        # a function the scan never saw bound (made by exec) is tainted too
        assert name in [u.name for u in t.get("made_by_exec", [])], src


def test_reaching_internals_by_computed_routes_is_flagged_with_the_line():
    for src, name, line in [
        ("import os\ndef f(x):\n    return os.sys.modules\n", "os.sys", 3),
        ("import os\nW = getattr(os, 'sy' + 's')\ndef f(x):\n    return x\n",
         "string 'sys'", 2),
        ("import os\ndef f(x):\n    return x\n"
         "M = os.__dict__['s' 'ys'].__dict__['mod' + 'ules']['grader.' + 'boundary']\n",
         "string 'grader.boundary'", 4),
        ("import os\ndef f(x):\n    return x\nK = '_'.join(['', 'getframe'])\n",
         "string '_getframe'", 4),
        ("def f(x):\n    return x\ng = f.__closure__\n", "f.__closure__", 3),
        ("import torch\ndef f(x):\n    return getattr(torch, f\"{'_C'}\")\n",
         "string '_C'", 3),
        ("def f(x):\n    p = x.numpy()\n    return p.ctypes.data\n", "p.ctypes", 3),
        ("import numpy\ndef f(x):\n    return getattr(numpy, 'ctypes' + 'lib')\n",
         "string 'ctypeslib'", 3),
    ]:
        t = _scan(src)
        found = [(u.name, u.line) for u in t.get("f", [])]
        assert (name, line) in found, (src, found)
    # prose that mentions them is not a use
    assert _scan('"""Uses sys.modules, gc and grader.boundary."""\ndef f(x):\n    return x\n') == {}
    for src, name, line in [
        ("import os\ndef f(x):\n    return x\nW = 'grader.' + 'boundary.worker'\n",
         "string 'grader.boundary.worker'", 4),
    ]:
        t = _scan(src)
        found = [(u.name, u.line) for u in t.get("f", [])]
        assert (name, line) in found, (src, found)


def test_internals_check_leaves_correct_code_alone():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    files = [*root.glob("reference/*/*.py"), *root.glob("reference/*/variants/*.py"),
             *root.glob("examples/**/*.py"), *root.glob("assignments/*/*.py")]
    assert len(files) > 20
    flagged = {str(p): forbidden.internals(ast.parse(p.read_text())) for p in files
               if not p.name.endswith("_tests.py")}
    assert not {p: u for p, u in flagged.items() if u}


def test_module_level_forbidden_call_taints_everything():
    t = _scan("import torch.nn.functional as F\nF.relu\ndef f(x):\n    return x\n")
    assert [u.name for u in t["f"]] == ["torch.nn.functional.relu"]


def test_clean_code_is_clean():
    assert _scan("import torch\ndef f(x):\n    return torch.clamp(x, min=0)\n") == {}


def test_computed_getattr_is_caught_at_run_time(zygote):
    src = "import torch\ndef f(x):\n    return getattr(torch, 're' + 'lu')(x)\n"
    assert _scan(src) == {}  # invisible to the syntax tree ...
    import torch

    with WorkerSession(zygote, "m", src) as s:
        r, _ = s.call("f", (torch.randn(3),))
    assert r.error is None and "relu" in r.ops  # ... but not to the op record


def test_popping_the_recorder_leaves_no_record_and_fails_the_call(python_zygote):
    import torch

    src = ("import torch\n"
           "pd = getattr(getattr(torch, 'utils'), '_python' + '_dispatch')\n"
           "def f(x):\n"
           "    mode = getattr(pd, '_pop' + '_mode')()\n"
           "    try:\n"
           "        return getattr(torch, 're' + 'lu')(x)\n"
           "    finally:\n"
           "        getattr(pd, '_push' + '_mode')(mode)\n")
    with WorkerSession(python_zygote, "m", src) as s:
        r, _ = s.call("f", (torch.randn(3),))
    assert r.error is not None and r.error.type == "RecorderTampered", r


def test_patching_the_recorder_class_fails_the_call(python_zygote):
    import torch

    src = ("import torch, sys\n"
           "W = getattr(sys, 'mod' + 'ules')['grader.boundary.worker']\n"
           "def f(x):\n"
           "    W.OpRecorder.__torch_dispatch__ = "
           "lambda self, func, types, args=(), kwargs=None: func(*args, **(kwargs or {}))\n"
           "    return getattr(torch, 're' + 'lu')(x)\n")
    with WorkerSession(python_zygote, "m", src) as s:
        r, _ = s.call("f", (torch.randn(3),))
    assert r.error is not None and r.error.type == "RecorderTampered", r


NATIVE_TAMPERING = {
    # record functions off on this thread, for the forbidden op only
    "disabled": ("import torch\n"
                 "A = getattr(torch, 'auto' + 'grad')\n"
                 "def f(x):\n"
                 "    getattr(A, '_enable_record' + '_function')(False)\n"
                 "    try:\n"
                 "        return getattr(torch, 're' + 'lu')(x)\n"
                 "    finally:\n"
                 "        getattr(A, '_enable_record' + '_function')(True)\n"),
    # every callback removed (the profiler's starts again; the recorder's cannot)
    "cleared": ("import torch\n"
                "C = getattr(getattr(torch, '_' + 'C'), '_auto' + 'grad')\n"
                "def f(x):\n"
                "    getattr(C, '_clear' + '_callbacks')()\n"
                "    return getattr(torch, 're' + 'lu')(x)\n"),
    # the recorder's class patched to report nothing
    "patched": ("import torch, sys\n"
                "R = getattr(sys, 'mod' + 'ules')['grader.boundary.oprecord'].NativeRecorder\n"
                "def f(x):\n"
                "    R._names = lambda self, top: set()\n"
                "    return getattr(torch, 're' + 'lu')(x)\n"),
}


@pytest.mark.parametrize("how", sorted(NATIVE_TAMPERING))
def test_turning_the_native_recorder_off_fails_the_call(zygote, how):
    import torch

    zygote.wait_ready()
    if zygote.recorder != "native":
        pytest.skip("the native recorder is not built here")
    with WorkerSession(zygote, "m", NATIVE_TAMPERING[how]) as s:
        r, _ = s.call("f", (torch.randn(3),))
    assert r.error is not None and r.error.type == "RecorderTampered", r


def test_files_named_like_modules_never_shadow_anything(zygote):
    """The worker writes only its module file, loads it by path, and never puts its
    folder on sys.path: numpy.py, torch.py, sitecustomize.py ... in it are never imported."""
    src = ("import os, sys\n"
           "for n in ('numpy.py', 'sitecustomize.py', 'usercustomize.py', 'conftest.py',\n"
           "          'yaml.py', 'json.py'):\n"
           "    open(n, 'w').write('raise SystemExit(\"shadowed\")\\n')\n"
           "open('evil.pth', 'w').write('import os; os._exit(3)\\n')\n"
           "def f():\n"
           "    import numpy, json\n"
           "    return [numpy.__file__, json.__file__, os.getcwd() in sys.path,\n"
           "            '' in sys.path, '.' in sys.path]\n")
    with WorkerSession(zygote, "m", src) as s:
        r, _ = s.call("f", (), record_ops=False)
    assert r.error is None, r.error
    numpy_file, json_file, *on_path = r.value
    assert "site-packages" in numpy_file and "dlgrade-w-" not in json_file
    assert on_path == [False, False, False]


# ---------------------------------------------------------------------------- what names denote

STYLE_PY = ("torch.nn.functional.*", "torch.softmax", "torch.nn.Softmax", "torch.nn.*Pool*")
STYLE_ATEN = ("softmax", "_softmax", "relu", "conv*", "max_pool*")

# The "mytorch" style: layer objects with forward/backward methods, attributes and helpers
# named like library ops. Every name here is the student's own (or Python's).
CLASS_STYLE = '''
from builtins import range
import builtins
import torch


class Softmax:
    def __init__(self, dim=-1):
        self.dim = dim

    def forward(self, x):
        e = (x - x.max(dim=self.dim, keepdim=True).values).exp()
        self.out = e / e.sum(dim=self.dim, keepdim=True)
        return self.out

    def backward(self, dout):
        return self.out * (dout - (dout * self.out).sum(dim=self.dim, keepdim=True))


class MaxPool2d:
    def forward(self, x):
        return x

    def backward(self, dout):
        return dout


class Child(Softmax):
    def backward(self, dout):
        return super().backward(dout) * 1


class Model:
    def __init__(self):
        self.softmax = Softmax(dim=-1)
        self.pool = MaxPool2d()
        self.layers = [Softmax(), MaxPool2d()]
        self.more = []
        self.more.append(Child())
        self.named = {"pool": MaxPool2d()}

    def conv2d_stride1(self, x):
        return x

    def forward(self, x):
        for _ in builtins.range(2):
            x = self.conv2d_stride1(x)
        y = self.softmax.forward(x)
        for layer in reversed(self.layers):
            y = layer.forward(y)
        for _, layer in enumerate(self.more):
            y = layer.backward(y)
        for _, layer in self.named.items():
            y = layer.backward(y)
        return self.pool.backward(y) + getattr(self, "softmax").backward(y)


_model = Model()


def attention_forward(x):
    relu = Softmax()
    pool = MaxPool2d()
    return _model.forward(x), pool.backward(x), relu.forward(x)
'''


def test_students_own_names_are_free_whatever_they_are_called():
    assert forbidden.scan(CLASS_STYLE, STYLE_PY, STYLE_ATEN) == {}


def test_lambdas_outside_function_bodies_are_resolved():
    # A lambda in a class body or a base list has a scope of its own (it once crashed).
    src = ("import torch\nclass A(dict if (lambda: 1)() else object):\n"
           "    act = lambda self, x: x.softmax(-1)\n    ok = lambda self, x: x\n"
           "def f(x):\n    return A().act(x)\n")
    uses = forbidden.scan(src, STYLE_PY, STYLE_ATEN)
    assert [u.name for u in uses["f"]] == ["x.softmax"]


def test_pytorchs_objects_are_caught_however_they_are_reached():
    cases = {
        "import torch\ndef f(x):\n    return x.softmax(-1)\n": "x.softmax",
        "def f(x):\n    y = x.exp().sum()\n    y.backward()\n    return x\n": "y.backward",
        "import torch\ndef f(x):\n    g = torch.softmax\n    return g(x, -1)\n": "torch.softmax",
        "import torch\nnnf = torch.nn.functional\ndef f(x):\n    return nnf.relu(x)\n":
            "torch.nn.functional.relu",
        "import torch\ndef f(x):\n    return getattr(torch, 'softmax')(x, -1)\n":
            "torch.softmax",
        "def f(x):\n    return getattr(x, 'softmax')(-1)\n": "x.softmax",
        "def f(x):\n    import torch.nn.functional as F\n    return F.relu(x)\n":
            "torch.nn.functional.relu",
        "from torch.nn.functional import relu\ndef f(x):\n    return relu(x)\n":
            "torch.nn.functional.relu",
        # an attribute of the student's object holding PyTorch's: caught where it is set
        "import torch\nclass A:\n    def __init__(self):\n        self.sm = torch.nn.Softmax(-1)\n"
        "    def fw(self, x):\n        return self.sm(x)\ndef f(x):\n    return A().fw(x)\n":
            "torch.nn.Softmax",
        "import torch.nn.functional as F\nclass A:\n    def __init__(self):\n        self.F = F\n"
        "    def fw(self, x):\n        return self.F.relu(x)\ndef f(x):\n    return A().fw(x)\n":
            "torch.nn.functional.relu",
        # a tensor kept on the student's object is still a tensor
        "class A:\n    def __init__(self, x):\n        self.x = x\n    def fw(self):\n"
        "        return self.x.softmax(-1)\ndef f(x):\n    return A(x).fw()\n": "self.x.softmax",
        # ... also when set from outside the class
        "class W:\n    pass\ndef f(x):\n    w = W()\n    w.x = x\n    return w.x.softmax(-1)\n":
            "w.x.softmax",
        # inherited from PyTorch: Tensor.softmax
        "import torch\nclass T(torch.Tensor):\n    def g(self):\n        return self.softmax(-1)\n"
        "def f(x):\n    return T(x).g()\n": "torch.Tensor.softmax",
        # an object the scan cannot follow (a parameter) is judged by its name
        "def f(layer, x):\n    return layer.backward(x)\n": "layer.backward",
        # names bound in a cycle are not followed
        "def f(x):\n    a = x\n    for i in range(3):\n        b = a\n        a = b\n"
        "    return a.softmax(-1)\n": "a.softmax",
    }
    for src, name in cases.items():
        uses = forbidden.scan(src, STYLE_PY, STYLE_ATEN).get("f", [])
        assert name in [u.name for u in uses], (src, uses)


def test_builtins_are_pythons_but_reaching_the_interpreter_through_them_is_not():
    fine = "from builtins import range, len as n\nimport builtins\ndef f(x):\n" \
           "    return [builtins.min(i, n(x)) for i in range(3)]\n"
    assert forbidden.scan(fine, STYLE_PY, STYLE_ATEN) == {}
    for src, name in [
        ("from builtins import exec as e\ndef f(x):\n    return x\n", "builtins.exec"),
        ("import builtins\ndef f(x):\n    return builtins.__import__('os')\n", "__import__"),
        ("import builtins\ndef f(x):\n    return getattr(builtins, 'eval')\n", "eval"),
        ("import builtins\nb = builtins\ndef f(x):\n    return x\n", "builtins"),
        # the student's own objects are no shield for reaching frames and globals
        ("def g():\n    pass\ndef f(x):\n    return g.__globals__\n", "g.__globals__"),
        ("class A:\n    def m(self):\n        return self.m.__globals__\n"
         "def f(x):\n    return x\n", "self.m.__globals__"),
    ]:
        uses = forbidden.scan(src, STYLE_PY, STYLE_ATEN).get("f", [])
        assert name in [u.name for u in uses], (src, uses)


def test_autograd_behind_a_students_method_name_is_caught_at_run_time(zygote):
    """`cache.backward(dout)` is free when the student's classes define `backward` (the
    cache is their layer object); were it a tensor, the run-time record catches it."""
    from tests.conftest import ROOT, grade, suite

    ref = (ROOT / "reference" / "backprop" / "backprop.py").read_text()
    old = "    x = cache\n    return torch.where(x > 0, dout, torch.zeros_like(dout))\n"
    assert ref.count(old) == 1
    cheat = ref.replace(old, "    x = cache.detach().requires_grad_()\n"
                             "    (x.clamp(min=0) * dout).sum().backward()\n"
                             "    return x.grad.detach()\n")
    cheat += ("\n\nclass Layer:\n    def backward(self, d):\n        return d\n\n"
              "    def requires_grad_(self):\n        return self\n")
    a = suite("backprop").assignment
    assert "relu_backward" not in forbidden.scan(cheat, a.forbidden_python, a.forbidden_aten)
    r = grade(zygote, "backprop", cheat, performance=False,
              test_ids={"relu", "activations_public"})
    assert {t.id for t in r.tests} == {"relu", "activations_public"}
    for t in r.tests:
        # named by the function (the Python recorders) or as autograd (both)
        assert t.points == 0 and "forbidden" in t.output and (
            "torch.backward" in t.output or "torch.autograd" in t.output), t


RECURRENT = ("rnn_*", "lstm*", "gru*", "conv*", "layer_norm*")


@pytest.mark.parametrize("src", [
    "from collections import namedtuple\nCache = namedtuple('Cache', ['lstm_gates', 'h'])\n"
    "def f(dh, cache):\n    return cache.lstm_gates\n",
    "from dataclasses import dataclass\nimport torch\n@dataclass\nclass Cache:\n"
    "    conv_input: torch.Tensor\n"
    "def f(dout, cache):\n    return cache.conv_input\n",
    "from types import SimpleNamespace\ndef g(x):\n    return SimpleNamespace(rnn_h=x)\n"
    "def f(dh, cache):\n    return cache.rnn_h * cache.layer_norm_xhat\n",
], ids=["namedtuple", "dataclass", "namespace"])
def test_a_cache_field_named_like_an_op_family_is_the_students(src):
    """An attribute the resolver cannot follow is judged by its name only where torch has
    that name: a cache whose fields start with lstm_ or conv_ scored 0 for its backward."""
    assert forbidden.scan(src, (), RECURRENT) == {}


def test_a_torch_name_on_a_value_it_cannot_follow_is_still_judged():
    t = forbidden.scan("import torch\ndef f(x, m=torch):\n    return m.lstm_cell(x)\n"
                       "def g(x):\n    return x.gru_cell\n", (), RECURRENT)
    assert [u.name for u in t["f"]] == ["m.lstm_cell"]
    assert [u.name for u in t["g"]] == ["x.gru_cell"]
    assert [u.name for u in _scan("def f(x):\n    return x.relu()\n")["f"]] == ["x.relu"]
    assert not forbidden.may_be_torchs("lstm_gates") and forbidden.may_be_torchs("rnn_tanh")


OPS = ("sigmoid", "relu")


@pytest.mark.parametrize("src", [
    "from collections import namedtuple\nC = namedtuple('C', 'sigmoid relu')\n",
    "from collections import namedtuple\nC = namedtuple('C', ['sigmoid', 'relu'])\n",
    "import typing\nimport torch\nclass C(typing.NamedTuple):\n    sigmoid: torch.Tensor\n"
    "    relu: torch.Tensor\n",
    "from typing import NamedTuple\nC = NamedTuple('C', [('sigmoid', int), ('relu', int)])\n",
    "from dataclasses import dataclass\n@dataclass\nclass C:\n    sigmoid: object\n"
    "    relu: object\n",
    "from dataclasses import make_dataclass\nC = make_dataclass('C', ['sigmoid', ('relu', int)])\n",
    "import types\ndef make(x):\n    return types.SimpleNamespace(sigmoid=x, relu=x)\n",
], ids=["namedtuple-str", "namedtuple-list", "NamedTuple", "NamedTuple-call", "dataclass",
        "make_dataclass", "SimpleNamespace"])
def test_a_record_cache_with_fields_named_like_ops_is_the_students(src):
    """The fields of the student's own records: reading cache.sigmoid off a parameter is
    theirs (were it a tensor's method after all, the run-time trace sees the op)."""
    src += "def f(dout, cache):\n    return dout * cache.sigmoid * cache.relu\n"
    assert forbidden.scan(src, (), OPS) == {}
    # without the record, the same read is judged as a tensor method would be
    plain = "def f(dout, cache):\n    return dout * cache.sigmoid\n"
    assert [u.name for u in forbidden.scan(plain, (), OPS)["f"]] == ["cache.sigmoid"]


def test_a_functions_own_variable_named_like_a_builtin_is_not_the_builtin():
    free = ("def f(x, train):\n    vars = x.var(0)\n    eval = not train\n"
            "    def g():\n        return eval\n    return vars, g()\n")
    assert _scan(free) == {}
    for src in [
        "vars = vars\ndef f(x):\n    return x\n",  # the module level: the builtin
        "def f(x, eval=eval):\n    return eval('x')\n",  # a default: evaluated outside
        "def f(x):\n    return [eval for eval in [eval]][0]('x')\n",  # the comprehension's
        "def f(x):\n    global vars\n    vars = 1\n    return x\n",
        "def f(x):\n    vars = 1\n    return x\ndef g(x):\n    return vars(x)\n",
    ]:
        assert _scan(src).get("f"), src


MAIN_CHECK = ("import torch\nimport torch.nn.functional as F\n"
              "def f(x):\n    return x.clamp(min=0)\n"
              "if __name__ == '__main__':\n"
              "    x = torch.randn(3)\n    assert torch.equal(f(x), F.relu(x))\n")


def test_checks_under_a_main_guard_never_run_and_are_free():
    assert _scan(MAIN_CHECK) == {}
    reversed_guard = MAIN_CHECK.replace("__name__ == '__main__'", "'__main__' == __name__")
    assert reversed_guard != MAIN_CHECK and _scan(reversed_guard) == {}


@pytest.mark.parametrize("change", [
    ("def f(x):", "__name__ = '__main__'\ndef f(x):"),  # it could run after all
    ("def f(x):", "import sys as _s\nsetattr(_s, 'x', 1)\ndef f(x):"),
    ("    x = torch.randn(3)\n", "    pass\nelse:\n    f = lambda x: F.relu(x)\n"),  # else runs
], ids=["rebinds __name__", "setattr", "else branch"])
def test_a_main_guard_that_might_run_is_judged_as_module_code(change):
    src = MAIN_CHECK.replace(*change)
    assert src != MAIN_CHECK
    assert _scan(src).get("f"), src


def test_tampering_under_a_main_guard_still_counts():
    src = MAIN_CHECK + "    import gc\n"
    assert [u.name for u in _scan(src)["f"]] == ["gc"]
