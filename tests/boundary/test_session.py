"""The process boundary: what a worker can do to a call, and what the grader sees."""

from __future__ import annotations

import time

import torch

from grader.boundary.session import WorkerSession

SOURCE = '''
import os, sys, time, torch

def add(x, y):
    return x + y

def pair(x):
    return x * 2, {"kept": x}

def use(cache):
    return cache["kept"].sum()

def modify(x):
    x.mul_(2)
    return x.clone()

def hang():
    while True:
        pass

def die():
    os._exit(7)

def segfault():
    import ctypes
    ctypes.string_at(0)

def not_done(x):
    raise NotImplementedError("not_done")

def flood():
    for _ in range(2000):
        sys.stdout.write("x" * 100_000)
    return torch.zeros(1)

def numpy_out(x):
    return x.numpy()

class Lying(torch.Tensor):
    pass

def subclass(x):
    return x.as_subclass(Lying)

def fake_reply():
    # Write a forged reply onto every descriptor: the protocol must not be fooled.
    for fd in range(3, 20):
        try:
            os.write(fd, b"\\x00\\x00\\x00\\x10{\\"ok\\": true}    ")
        except OSError:
            pass
    return torch.ones(1)
'''


def session(zygote, source=SOURCE, **kw):
    return WorkerSession(zygote, "student", source, **kw)


def test_values_handles_and_identity(zygote):
    with session(zygote) as s:
        x = torch.arange(6.0).reshape(2, 3)
        r, spans = s.call("add", (x, x))
        assert r.ok and torch.equal(r.value, 2 * x) and spans == [[0], [0]]
        r, _ = s.call("pair", (x,), keep=(1,))
        out, handle = r.value
        assert torch.equal(out, 2 * x) and handle.type == "dict"
        r, _ = s.call("use", (handle,))
        assert r.value.item() == 15


def test_in_place_modification_is_reported(zygote):
    with session(zygote) as s:
        r, spans = s.call("modify", (torch.ones(3),))
        assert r.mutated == [0]


def test_timeout_kills_and_the_next_call_gets_a_fresh_worker(zygote):
    with session(zygote) as s:
        start = time.monotonic()
        r, _ = s.call("hang", timeout=0.5)
        assert r.error.type == "Timeout" and time.monotonic() - start < 5
        r, _ = s.call("add", (torch.ones(1), torch.ones(1)))
        assert r.ok and s.restarts == 1


def test_crashes_are_described(zygote):
    with session(zygote) as s:
        r, _ = s.call("die")
        assert r.error.type == "WorkerDied" and "status 7" in r.error.message
        r, _ = s.call("segfault")
        assert r.error.type == "WorkerDied" and "SIGSEGV" in r.error.message
        assert s.call("add", (torch.ones(1), torch.ones(1)))[0].ok


def test_exceptions_come_back_with_type_and_message(zygote):
    with session(zygote) as s:
        r, _ = s.call("not_done", (torch.ones(1),))
        assert r.error.type == "NotImplementedError" and r.error.message == "not_done"
        r, _ = s.call("missing")
        assert r.error.type == "AttributeError" and "missing" in r.error.message


def test_stdout_flood_is_drained_not_blocking(zygote):
    with session(zygote) as s:
        r, _ = s.call("flood", timeout=30)
        assert r.ok
        assert len(s.output.text()) <= 8192


def test_non_tensor_and_subclass_outputs_are_reported_as_such(zygote):
    with session(zygote) as s:
        r, _ = s.call("numpy_out", (torch.ones(2),))
        assert r.ok and type(r.value).__name__ == "Handle" and r.value.type == "numpy.ndarray"
        r, _ = s.call("subclass", (torch.ones(2),))
        assert type(r.value) is torch.Tensor and r.tensor_types == ["student.Lying"]


def test_forged_replies_do_not_pass_as_results(zygote):
    with session(zygote) as s:
        r, _ = s.call("fake_reply")
        # Either the genuine reply arrives, or the forgery breaks the stream and the
        # worker is discarded; a forged "ok" never stands in for a result.
        assert (r.ok and torch.equal(r.value, torch.ones(1))) or r.error.type == "Protocol"


def test_import_failures_are_not_retried(zygote):
    with session(zygote, "import sys\nsys.exit(3)\n") as s:
        r1, _ = s.call("add")
        r2, _ = s.call("add")
        assert r1.error.type == r2.error.type == "ImportFailed"
        assert "SystemExit" in r1.error.traceback
        assert s.restarts == 0


def test_import_that_hangs_times_out(zygote):
    with session(zygote, "while True:\n    pass\n", load_timeout=0.5) as s:
        r, _ = s.call("add")
        assert r.error.type == "Timeout"


def test_outputs_sharing_memory_with_inputs_are_reported(zygote):
    source = ("def same(x):\n    return x\n"
              "def view(x):\n    return x[1:], x.clone()\n"
              "def fresh(x):\n    return x.clone()\n")
    with session(zygote, source) as s:
        assert s.call("same", (torch.ones(3),))[0].aliased == [0]
        assert s.call("view", (torch.ones(3),))[0].aliased == [0]
        assert s.call("fresh", (torch.ones(3),))[0].aliased == []


def test_dicts_and_lists_changed_or_returned_are_reported(zygote):
    # Issue 15: an optimizer that writes into the caller's state and returns that dict,
    # an mlp that stores its gradients in params, a clip that overwrites the caller's list.
    source = ("def store(w, state):\n    state['m'] = w * 2\n    return w.clone(), state\n"
              "def pop(params):\n    params.pop('b')\n    return params['W'].clone()\n"
              "def replace(grads):\n    grads[0] = grads[0] * 2\n"
              "    return [g * 1 for g in grads]\n"
              "def keep(x, state):\n    return x.clone(), state\n"
              "def nested(p):\n    p['inner'].append(1)\n    return p['inner'][0].clone()\n"
              "def pure(w, state):\n    return w * 2, {'m': state['m'] * 1, 'n': 1}\n"
              "def with_cache(x):\n    c = {'n': 0}\n    return x.clone(), c\n"
              "def use_cache(c):\n    c['n'] += 1\n    return c['n']\n")
    w = torch.ones(3)
    with session(zygote, source) as s:
        r, _ = s.call("store", (w, {"m": torch.zeros(3)}))
        assert r.containers_mutated == [0 + 1] and r.containers_returned == [1]
        r, _ = s.call("pop", ({"W": w, "b": w},))
        assert r.containers_mutated == [0] and r.containers_returned == []
        r, _ = s.call("replace", ([w, w],))
        assert r.containers_mutated == [0] and r.containers_returned == []
        r, _ = s.call("keep", (w,), {"state": {"m": w}})
        assert r.containers_mutated == [] and r.containers_returned == [1]
        r, _ = s.call("nested", ({"inner": [w]},))
        assert r.containers_mutated == [0]
        r, _ = s.call("pure", (w, {"m": w}))
        assert r.ok and r.containers_mutated == [] and r.containers_returned == []
        # A cache is the submission's own object: changing it is not the caller's concern
        # here (the tests call a backward twice to catch a consumed cache).
        r, _ = s.call("with_cache", (w,), keep=(1,))
        r, _ = s.call("use_cache", (r.value[1],))
        assert r.ok and r.containers_mutated == [] and r.containers_returned == []
