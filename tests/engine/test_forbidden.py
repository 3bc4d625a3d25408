"""Forbidden-op enforcement: the static scan (tampering included) and the run-time record."""

from __future__ import annotations

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


def test_popping_the_recorder_leaves_no_record_and_fails_the_call(zygote):
    import torch

    src = ("import torch\n"
           "pd = getattr(getattr(torch, 'utils'), '_python' + '_dispatch')\n"
           "def f(x):\n"
           "    mode = getattr(pd, '_pop' + '_mode')()\n"
           "    try:\n"
           "        return getattr(torch, 're' + 'lu')(x)\n"
           "    finally:\n"
           "        getattr(pd, '_push' + '_mode')(mode)\n")
    with WorkerSession(zygote, "m", src) as s:
        r, _ = s.call("f", (torch.randn(3),))
    assert r.error is not None and r.error.type == "RecorderTampered", r


def test_patching_the_recorder_class_fails_the_call(zygote):
    import torch

    src = ("import torch, sys\n"
           "W = getattr(sys, 'mod' + 'ules')['grader.boundary.worker']\n"
           "def f(x):\n"
           "    W.OpRecorder.__torch_dispatch__ = "
           "lambda self, func, types, args=(), kwargs=None: func(*args, **(kwargs or {}))\n"
           "    return getattr(torch, 're' + 'lu')(x)\n")
    with WorkerSession(zygote, "m", src) as s:
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
