"""The untrusted side: a loop that imports one submission and executes call requests.

This module runs inside the sandboxed worker process, next to student code. It holds no
secret and decides nothing about grades: it only executes what the trusted side asks and
reports what happened. Everything it says is re-checked on the trusted side.

Requests (see grader.boundary.wire for the encoding):
    {"op": "load", "module": name, "source": text, "canary": name}
    {"op": "call", "fn": name, "args": [...], "kwargs": {...}, "keep": [i, ...],
     "device": "cpu", "record_ops": bool, "repeat": n}
    {"op": "drop", "handles": [n, ...]}
    {"op": "time", "fn": name, "sets": [[args, kwargs], ...], "keep": [i, ...],
     "device": "cpu", "flush_mb": m}  -> {"result": [out, ...], "gpu_ms": [...]}
    {"op": "batch", "calls": [{"fn", "args", "kwargs", "keep", "record_ops", "count_ops"}, ...],
     "device": "cpu"}  -> one reply per call, in order, each with "index" (the call's
        position); its "mutated" lists argument positions (positional, then keyword), not
        tensors; an argument {"$prev": [j, i]} is output i (null: all) of call j, copied
        as if it had been sent back; the first failed call ends the batch
    {"op": "bye"}
Any request may carry "drop": [n, ...], handles to forget before it runs (what "drop"
does, without a round trip of its own).
"call" also takes "count_ops": bool (the reply then carries "op_count", the number of aten
ops dispatched). A recorded call's reply carries "ops", "functions", "autograd" and
"recorder": "intact". "time" carries its inputs, calls fn once per set and replies with
every output: the trusted side times the round trip with its own clock (see
grader.engine.perf), so nothing this process reports about time is believed; and no
student code sees a timed call's inputs before that clock starts (a separate staging
request let a submission compute its answers untimed).
"canary" names grader.boundary.canary.probe for this worker: the trusted side interleaves
calls to it, whose true record it knows, with the submission's (see that module).
Every reply carries the request's "seq" and "ok"; failures carry "error": {"type",
"message", "traceback"}. A "call" reply (ok or not) also carries "printed": the first
PRINTED_CHARS characters the function wrote to sys.stdout and sys.stderr, when it wrote any
(the trusted side shows them for public tests only: in a hidden test they could carry the
hidden inputs out).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import os
import socket
import sys
import time
import traceback

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from grader.boundary import canary, oprecord, wire

_Tensor = torch.Tensor
_graph_task_id = torch._C._current_graph_task_id


def _tracks_grad(args) -> bool:
    """Whether an op's arguments include a tensor autograd tracks (one level of lists:
    cat and stack take lists)."""
    for a in args:
        if isinstance(a, _Tensor):
            if a.requires_grad:
                return True
        elif isinstance(a, (list, tuple)):
            for b in a:
                if isinstance(b, _Tensor) and b.requires_grad:
                    return True
    return False


class OpRecorder(TorchDispatchMode):
    """Records the base name of every aten op dispatched (e.g. "convolution"), and whether
    autograd took part: an op on a tensor that requires grad (building a graph), or an op
    run by the autograd engine (backward, torch.autograd.grad, torch.func.grad/vjp).

    Autograd does the work every assignment asks for, and a backward of matmuls
    dispatches only allowed ops: the op names alone would not show it.
    """

    def __init__(self):
        super().__init__()
        self.ops: set[str] = set()
        self.count = 0
        self.autograd = False

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Otherwise TorchDispatchMode wraps __torch_dispatch__ in torch._disable_dynamo,
        # whose first call imports torch._dynamo: 1.5-2 CPU-s in every process that records
        # (the fork server, and the grader for its canaries), for a compiler nothing here uses.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(func._schema.name.split("::")[-1])
        self.count += 1
        if not self.autograd and (_graph_task_id() != -1 or _tracks_grad(args)):
            self.autograd = True
        return func(*args, **(kwargs or {}))


class FunctionRecorder(TorchFunctionMode):
    """Records the names of torch-level functions called (e.g. "lstm_cell").

    Some library ops decompose into allowed aten ops on some builds (torch.lstm_cell into
    mm, sigmoid and tanh on the CPU), so the aten trace alone would miss them.
    """

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", None)
        if isinstance(name, str):
            self.names.add(name)
        return func(*args, **(kwargs or {}))


_DISPATCH = OpRecorder.__torch_dispatch__
_stack_len = torch._C._len_torch_dispatch_stack
_stack_at = torch._C._get_dispatch_stack_at
_guard = {"active": False, "popped": False}


def _tripwire(original):
    """Wrap a function that takes modes off the dispatch stack: calling it while a call
    is being recorded marks the record as tampered (a mode popped and pushed back would
    otherwise look intact afterwards)."""
    def wrapper(*args, **kwargs):
        if _guard["active"]:
            _guard["popped"] = True
        return original(*args, **kwargs)
    return wrapper


def _install_tripwires() -> None:
    import torch.utils._python_dispatch as pd

    for owner, name in ((torch._C, "_pop_torch_dispatch_stack"), (pd, "_pop_torch_dispatch_stack"),
                        (pd, "_pop_mode"), (torch._C, "_unset_dispatch_mode"),
                        (torch._C, "_set_dispatch_mode")):
        if hasattr(owner, name):
            setattr(owner, name, _tripwire(getattr(owner, name)))
    for name in ("_DisableTorchDispatch", "_ExcludeDispatchKeyGuard"):
        if hasattr(torch._C, name):
            setattr(torch._C, name, _tripwire(getattr(torch._C, name)))
    # What turns the native recorder off: record functions disabled on this thread, or
    # every callback cleared (a profiler's own start and stop leave it alone).
    for owner, name in ((torch.autograd, "_enable_record_function"),
                        (torch._C._autograd, "_enable_record_function"),
                        (torch._C._autograd, "_clear_callbacks")):
        if hasattr(owner, name):
            setattr(owner, name, _tripwire(getattr(owner, name)))


_install_tripwires()


def _recorder_intact(recorder: OpRecorder) -> bool:
    """Whether `recorder` is still the innermost dispatch mode and unpatched (checked
    with references taken before any student code ran)."""
    n = _stack_len()
    return (n > 0 and _stack_at(n - 1) is recorder and type(recorder) is OpRecorder
            and OpRecorder.__torch_dispatch__ is _DISPATCH and type(recorder.ops) is set
            and not _guard["popped"])


RECORDER = oprecord.mode()
"""Which recorder this process uses (decided at import, before any student code; the
fork server reports it, and the trusted side computes its canary expectations with it)."""
_NATIVE_METHOD_NAMES = ("__enter__", "__exit__", "intact", "_names")
_NATIVE_METHODS = tuple(getattr(oprecord.NativeRecorder, m) for m in _NATIVE_METHOD_NAMES)


def _native_intact(recorder: oprecord.NativeRecorder) -> bool:
    """Whether the native recording is still live and its class unpatched (checked
    with references taken before any student code ran)."""
    return (type(recorder) is oprecord.NativeRecorder
            and _NATIVE_METHODS == tuple(getattr(oprecord.NativeRecorder, m)
                                         for m in _NATIVE_METHOD_NAMES)
            and recorder.intact() and not _guard["popped"])


def record(mode: str, fn, *args) -> tuple[object, dict]:
    """fn(*args) under the recorders of `mode` (oprecord.NATIVE or PYTHON): its result,
    and the record an honest worker reports for it (the canary's expectation)."""
    if mode == oprecord.NATIVE:
        rec = oprecord.NativeRecorder(top=True)
        with rec:
            result = fn(*args)
        # Nested ops vary with kernel choices (and flags a submission may set): the canary
        # expects the ops called from Python, which must all be in the worker's record.
        return result, {"ops": sorted(rec.top_ops), "functions": [], "op_count": rec.count,
                        "autograd": rec.autograd, "closed": False}
    ops, functions = OpRecorder(), FunctionRecorder()
    with functions, ops:
        result = fn(*args)
    return result, {"ops": sorted(ops.ops), "functions": sorted(functions.names),
                    "op_count": ops.count, "autograd": ops.autograd, "closed": True}


RECORD = {m: functools.partial(record, m) for m in (oprecord.NATIVE, oprecord.PYTHON)}
"""`record` for each mode, one object each (the canary caches its expectations by it)."""


REPLY_GATHER_S = 0.002
"""A batch's replies made within this long of the last write go out together in the next:
one write per few calls, not one each (a write and the reader's wake-up cost more CPU than
a small step). The first call's reply, a failed call's and the last go at once. A call
that hangs or crashes can leave the replies of the last 2 ms unsent: the trusted side then
reports the timeout or crash at the first of those calls (the case fails either way)."""
REPLY_GATHER_BYTES = 1 << 16
"""Replies past this size go at once (nothing to gain from gathering them)."""

PRINTED_CHARS = 2000


class _Printed(io.TextIOBase):
    """sys.stdout/sys.stderr during a call: keeps the first PRINTED_CHARS characters and
    counts the rest, so a print in a loop cannot fill the worker's memory."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.kept = 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        text = str(text)
        if self.kept < PRINTED_CHARS:
            part = text[:PRINTED_CHARS - self.kept]
            self.parts.append(part)
            self.kept += len(part)
        return len(text)

    def text(self) -> str:
        return "".join(self.parts)


def _error(exc: BaseException, path: str | None = None) -> dict:
    """An exception as the trusted side gets it. With `path` (the submission's file in the
    worker's temporary folder), the traceback keeps only the frames in that file, named by
    its file name: a student needs the line of their code that failed, not frames inside
    torch/_ops.py, nor a temporary path."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if path is not None and f.filename == path]
    if mine:
        tb = ["Traceback (most recent call last):\n", *traceback.format_list(mine),
              *traceback.format_exception_only(type(exc), exc)]
    else:
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        # Drop the worker's own frames: the student needs their code's frames only.
        tb = [line for line in tb if "grader/boundary/worker.py" not in line]
    text, message = "".join(tb), str(exc)
    if path is not None:
        name = os.path.basename(path)
        text, message = text.replace(path, name), message.replace(path, name)
    return {
        "type": type(exc).__name__,
        "message": message[:2000],
        "traceback": text[-4000:],
    }


def _earlier_calls(node) -> list[int]:
    """The calls j a batch call's request names as {"$prev": [j, i]} anywhere inside."""
    found, todo = [], [node]
    while todo:
        n = todo.pop()
        if type(n) is list:
            todo.extend(n)
        elif type(n) is dict:
            prev = n.get("$prev")
            if len(n) == 1 and type(prev) is list and prev and isinstance(prev[0], int):
                found.append(prev[0])
            else:
                todo.extend(n.values())
    return found


def _storage(t: torch.Tensor) -> int:
    try:
        return t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):  # tensors without storage (subclasses)
        return -1


def _snapshot(obj) -> list:
    """What a dict or list holds: its keys in order and each item (compared by identity;
    holding the items keeps their ids from being reused)."""
    return list(obj.items()) if isinstance(obj, dict) else [(i, v) for i, v in enumerate(obj)]


def _same(now: list, before: list) -> bool:
    if len(now) != len(before):
        return False
    for (k1, v1), (k2, v2) in zip(now, before):
        if v1 is not v2 or k1 != k2:
            return False
    return True


def _containers(value, skip: set[int], out: dict | None = None) -> dict:
    """id -> (object, snapshot) for every dict and list inside `value` (tuples are looked
    through), leaving out the objects in `skip` (caches the submission made itself)."""
    out = {} if out is None else out
    if id(value) in skip or id(value) in out:
        return out
    if isinstance(value, (dict, list)):
        out[id(value)] = (value, _snapshot(value))
    if isinstance(value, (dict, list, tuple)):
        for v in (value.values() if isinstance(value, dict) else value):
            if isinstance(v, _NESTING):  # (most items are tensors: no call for them)
                _containers(v, skip, out)
    return out


_NESTING = (dict, list, tuple)


class Worker:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.module = None
        self.path: str | None = None
        """The submission's file, once loaded (tracebacks are trimmed to its frames)."""
        self.printed = ""
        """What the last call printed (see PRINTED_CHARS)."""
        self.objects: dict[int, object] = {}
        self.next_handle = 1
        self.grader_functions: dict[str, object] = {}
        """Functions of the grader's own callable by name (the canary), before the module's."""

    # -- handles ------------------------------------------------------------------
    def keep(self, obj) -> int:
        n = self.next_handle
        self.next_handle += 1
        self.objects[n] = obj
        return n

    def resolve(self, n: int, _type: str = ""):
        if n not in self.objects:
            raise LookupError(f"unknown handle {n} (the cache came from a previous worker)")
        return self.objects[n]

    # -- requests -----------------------------------------------------------------
    def function(self, name) -> object:
        fn = self.grader_functions.get(name) or getattr(self.module, str(name), None)
        if fn is None or not callable(fn):
            raise AttributeError(f"the submission defines no function {name!r}")
        return fn

    def load(self, req: dict) -> dict:
        if isinstance(req.get("canary"), str):
            self.grader_functions[req["canary"]] = canary.probe
        name = req["module"]
        path = os.path.join(os.getcwd(), name + ".py")
        self.path = path
        with open(path, "w", encoding="utf-8") as f:
            f.write(req["source"])
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        self.module = module
        return {}

    def call(self, req: dict, msg: wire.Decoded) -> tuple[dict, wire.Encoder]:
        device = torch.device(req.get("device", "cpu"))
        originals = [wire.tensor_to_bytes(t) for t in msg.tensors]
        moved = [t.to(device) for t in msg.tensors]
        msg = wire.Decoded(msg.header, moved, msg.tensor_meta)
        dec = wire.Decoder(
            msg,
            resolve_handle=self.resolve,
            make_generator=lambda seed: torch.Generator(device=device).manual_seed(seed),
        )
        args = dec.decode(req.get("args", []))
        kwargs = dec.decode(req.get("kwargs", {"$dict": []}))
        reply, enc, _ = self._invoke(req, args, kwargs, moved, originals, device)
        return reply, enc

    def _invoke(self, req: dict, args, kwargs, moved: list, originals: list[bytes],
                device: torch.device) -> tuple[dict, wire.Encoder, object]:
        """Run one call under the recorders; `moved` are its input tensors (as the
        function got them) and `originals` their bytes before the call. Returns the reply,
        its encoder and the result (kept outputs replaced by handles)."""
        # The dicts and lists the caller passed, with their keys and items before the call
        # (not the caches kept here, which are the submission's own objects).
        kept = {id(o) for o in self.objects.values()}
        containers = [_containers(a, kept) if isinstance(a, _NESTING) else {}
                      for a in [*args, *kwargs.values()]]
        fn = self.function(req["fn"])
        recording = bool(req.get("record_ops", True) or req.get("count_ops"))
        native = recording and RECORDER == oprecord.NATIVE
        recorder = functions = None
        if native:
            recorder = oprecord.NativeRecorder()
        elif recording:
            recorder, functions = OpRecorder(), FunctionRecorder()
        repeat = max(1, int(req.get("repeat", 1)))
        intact = False
        printed = _Printed()
        try:
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                if recorder is not None:
                    with functions or contextlib.nullcontext(), recorder:
                        _guard.update(active=True, popped=False)
                        try:
                            result = fn(*args, **kwargs)
                        finally:
                            _guard["active"] = False
                        intact = (_native_intact(recorder) if native
                                  else _recorder_intact(recorder))
                else:
                    for _ in range(repeat):
                        result = fn(*args, **kwargs)
        finally:
            self.printed = printed.text()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        keep = set(req.get("keep", []))
        if keep and isinstance(result, (tuple, list)):
            result = tuple(
                wire.Handle(self.keep(v), wire.type_name(v)) if i in keep else v
                for i, v in enumerate(result)
            )
        mutated = [
            i for i, (orig, now) in enumerate(zip(originals, moved))
            if orig != wire.tensor_to_bytes(now)
        ]
        enc = wire.Encoder(handle_for=self.keep)
        value = enc.encode(result)
        inputs = {_storage(t) for t in moved if t.numel()}
        # Outputs sharing memory with an input: the caller could later change them.
        aliased = [i for i, t in enumerate(enc.objects) if t.numel() and _storage(t) in inputs]
        # A container argument whose keys or items changed (params["W1"] = ..., a key
        # added, grads.append(...)): the caller's dict or list was modified in place.
        changed = [i for i, snap in enumerate(containers) if any(
            not _same(_snapshot(obj), before) for obj, before in snap.values())]
        # A returned dict or list that is one of the caller's (an optimizer that writes into
        # the state it was given and returns it): the caller's object, not a new one.
        mine = {k for snap in containers for k in snap}
        returned = sorted({i for i, v in enumerate(result if isinstance(result, tuple)
                                                   else (result,))
                           if isinstance(v, _NESTING) and _containers(v, kept).keys() & mine})
        reply = {"result": value, "mutated": mutated, "aliased": aliased,
                 "containers_mutated": changed, "containers_returned": returned}
        if recorder is not None and intact:  # no record at all when it was tampered with
            reply["ops"] = sorted(recorder.ops)
            if req.get("count_ops"):
                reply["op_count"] = recorder.count
            reply["functions"] = sorted(functions.names) if functions is not None else []
            reply["autograd"] = recorder.autograd
            reply["recorder"] = "intact"
        return reply, enc, result

    def _resent(self, value, device: torch.device, made: list, seen: dict,
                resolve: bool = True, copy: bool = True):
        """`value` (an earlier call's output) as the next call would get it had it gone
        to the trusted side and back: tensors become fresh plain contiguous copies
        (collected in `made`), containers plain tuples, lists and dicts, handles the
        objects they name, anything the wire cannot carry stays this object (the wire
        would keep it under a handle). `seen`: one copy per tensor object, as the wire
        sends a tensor object once per message. `copy=False`: `value` is such a copy
        already, made here and seen by no student code: its tensors are passed on as
        they are (still collected in `made`), in containers of their own."""
        if value is None or isinstance(value, (bool, int, float, str, torch.dtype)):
            return value
        if isinstance(value, torch.Tensor):
            if id(value) not in seen:
                if not copy:
                    fresh = value
                else:
                    plain = value.as_subclass(torch.Tensor) if type(value) is not torch.Tensor \
                        else value
                    if plain.dtype not in wire.DTYPE_NAMES:
                        raise wire.ProtocolError(f"cannot send a tensor of dtype {plain.dtype}")
                    if plain.is_cpu and device.type == "cpu":
                        fresh = (plain.detach() if plain.requires_grad else plain).clone(
                            memory_format=torch.contiguous_format)
                    else:
                        fresh = plain.detach().to("cpu").contiguous().clone().to(device)
                seen[id(value)] = (value, fresh)
                made.append(fresh)
            return seen[id(value)][1]
        if isinstance(value, wire.Handle):
            return self.resolve(value.id) if resolve else value
        if isinstance(value, tuple):
            return tuple(self._resent(v, device, made, seen, resolve, copy) for v in value)
        if isinstance(value, list):
            return [self._resent(v, device, made, seen, resolve, copy) for v in value]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {k: self._resent(v, device, made, seen, resolve, copy)
                    for k, v in value.items()}
        return value

    def batch(self, req: dict, msg: wire.Decoded, seq) -> None:
        """Run a list of calls, one reply per call as each finishes (so the trusted side
        applies its per-call timeout to each; replies made within REPLY_GATHER_S of the
        last write go out in the next one). An argument {"$prev": [j, i]} is output i
        (null: the whole result) of call j < this one, passed as if it had been sent
        back. The first call that fails ends the batch (its reply carries the error)."""
        device = torch.device(req.get("device", "cpu"))
        calls = req.get("calls")
        if not isinstance(calls, list):
            raise ValueError("batch: calls must be a list")
        moved = [t.to(device) for t in msg.tensors]
        results: list = []
        # Each call's outputs are kept as they were reported (a copy: `results`) and
        # passed on as a copy of that copy, except at their last use in this batch: no
        # student code has seen the kept copy, so that use takes it as it is.
        uses: dict[int, int] = {}
        for c in calls:
            if isinstance(c, dict):
                for j in _earlier_calls([c.get("args"), c.get("kwargs")]):
                    uses[j] = uses.get(j, 0) + 1
        queue: list[bytes] = []  # replies not yet written (see REPLY_GATHER_S)
        sent = time.monotonic()
        try:
            for k, c in enumerate(calls):
                enc = None
                try:
                    if not isinstance(c, dict):
                        raise ValueError("batch: each call must be an object")
                    made: list = []
                    seen: dict = {}

                    def earlier(j, i, k=k, made=made, seen=seen):
                        if not (isinstance(j, int) and 0 <= j < k):
                            raise wire.ProtocolError(f"$prev names call {j!r} from call {k}")
                        out = results[j]
                        if i is not None:
                            if not (isinstance(i, int) and isinstance(out, (tuple, list))
                                    and 0 <= i < len(out)):
                                raise IndexError(f"call {j} returned no output {i!r} to pass on")
                            out = out[i]
                        uses[j] = uses.get(j, 0) - 1
                        return self._resent(out, device, made, seen, copy=uses[j] > 0)

                    dec = wire.Decoder(
                        wire.Decoded(msg.header, moved, msg.tensor_meta),
                        resolve_handle=self.resolve,
                        make_generator=lambda s: torch.Generator(device=device).manual_seed(s),
                        resolve_earlier=earlier)
                    arg_nodes = c.get("args", [])
                    kw_pairs = (c.get("kwargs") or {"$dict": []}).get("$dict")
                    if not (isinstance(arg_nodes, list) and isinstance(kw_pairs, list) and all(
                            isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str)
                            for kv in kw_pairs)):
                        raise wire.ProtocolError("batch: malformed arguments")
                    # This call's input tensors, and the argument positions (positional, then
                    # keyword) holding each: "mutated" names positions, not tensors.
                    inputs: list = []
                    holders: list[set] = []
                    slot: dict = {}
                    values = []
                    for pos, node in enumerate(arg_nodes + [v for _, v in kw_pairs]):
                        before, refs = len(made), len(dec.tensor_refs)
                        seen.clear()  # copies of earlier outputs are per argument
                        values.append(dec.decode(node))
                        found = [("t", i) for i in dec.tensor_refs[refs:]] + [
                            ("c", n) for n in range(before, len(made))]
                        for key in found:
                            if key not in slot:
                                slot[key] = len(inputs)
                                inputs.append(moved[key[1]] if key[0] == "t" else made[key[1]])
                                holders.append(set())
                            holders[slot[key]].add(pos)
                    args = values[:len(arg_nodes)]
                    kwargs = {k: v for (k, _), v in zip(kw_pairs, values[len(arg_nodes):])}
                    originals = [wire.tensor_to_bytes(t) for t in inputs]
                    reply, enc, result = self._invoke(c, args, kwargs, inputs, originals, device)
                    reply["mutated"] = sorted({p for i in reply["mutated"] for p in holders[i]})
                    # What was just reported, frozen now (as the reply's bytes are): a later
                    # call gets a copy of this, whatever happens to the student's objects.
                    results.append(self._resent(result, device, [], {}, resolve=False))
                    reply.update(seq=seq, ok=True, index=k)
                    ok = True
                except BaseException as exc:  # noqa: BLE001 - reported like any call's error
                    reply, enc, ok = {"seq": seq, "ok": False, "index": k,
                                      "error": _error(exc, self.path)}, None, False
                self._reply(seq, reply, enc, queue)
                # Replies go out together, a write every REPLY_GATHER_S at most, rather than one
                # each: the first at once, a failed call's at once (with those before it).
                now = time.monotonic()
                if (not ok or k == 0 or now - sent >= REPLY_GATHER_S
                        or sum(map(len, queue)) > REPLY_GATHER_BYTES):
                    self.sock.sendall(b"".join(queue))
                    queue.clear()
                    sent = now
                if not ok:
                    return
        finally:
            if queue:
                self.sock.sendall(b"".join(queue))

    def time(self, req: dict, msg: wire.Decoded) -> tuple[dict, wire.Encoder]:
        import gc

        device = torch.device(req.get("device", "cpu"))
        # The inputs come with the request, inside the trusted side's clock (the probe
        # worker's round trip with the same inputs is what it subtracts).
        msg = wire.Decoded(msg.header, [t.to(device) for t in msg.tensors], msg.tensor_meta)
        dec = wire.Decoder(
            msg, resolve_handle=self.resolve,
            make_generator=lambda seed: torch.Generator(device=device).manual_seed(seed))
        sets = [(tuple(dec.decode(a)), dec.decode(k)) for a, k in req.get("sets", [])]
        fn = self.function(req["fn"])
        cuda = device.type == "cuda"
        flush = None
        if cuda and req.get("flush_mb"):
            flush = torch.empty(int(req["flush_mb"]) * 1024 * 1024 // 4, dtype=torch.float32,
                                device=device)
        results, gpu_ms = [], []
        gc.disable()
        try:
            if cuda:
                torch.cuda.synchronize(device)  # the inputs' copies are not the call's
            for args, kwargs in sets:
                if flush is not None:
                    flush.zero_()  # evict the L2, as the trusted side does for the baseline
                if cuda:
                    torch.cuda.synchronize(device)
                    start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
                    start.record()
                results.append(fn(*args, **kwargs))
                if cuda:
                    end.record()
                    torch.cuda.synchronize(device)
                    gpu_ms.append(start.elapsed_time(end))
        finally:
            gc.enable()
        keep = set(req.get("keep", []))
        if keep:
            # Caches are not timed outputs: a placeholder crosses, nothing is stored.
            results = [tuple(wire.Handle(0, wire.type_name(v)) if i in keep else v
                             for i, v in enumerate(r)) if isinstance(r, tuple) else r
                       for r in results]
        enc = wire.Encoder(handle_for=lambda obj: 0)
        return {"result": enc.encode(results), "gpu_ms": gpu_ms}, enc

    def serve(self) -> None:
        while True:
            try:
                msg = wire.recv(self.sock)
            except (EOFError, ConnectionError):
                return
            req = msg.header
            seq = req.get("seq")
            op = req.get("op")
            enc = None
            try:
                # Handles the trusted side no longer needs ride on the next request.
                for n in req.get("drop") or ():
                    if isinstance(n, int):
                        self.objects.pop(n, None)
                if op == "load":
                    reply = self.load(req)
                elif op == "call":
                    reply, enc = self.call(req, msg)
                elif op == "batch":
                    self.batch(req, msg, seq)  # sends one reply per call itself
                    continue
                elif op == "time":
                    reply, enc = self.time(req, msg)
                elif op == "drop":
                    for n in req.get("handles", []):
                        self.objects.pop(n, None)
                    reply = {}
                elif op == "bye":
                    wire.send(self.sock, {"seq": seq, "ok": True})
                    return
                else:
                    raise ValueError(f"unknown op {op!r}")
                reply.update(seq=seq, ok=True)
            except BaseException as exc:  # noqa: BLE001 - SystemExit and friends are results too
                reply, enc = {"seq": seq, "ok": False, "error": _error(exc, self.path)}, None
            self._reply(seq, reply, enc)

    def _reply(self, seq, reply: dict, enc: wire.Encoder | None,
                queue: list[bytes] | None = None) -> None:
        """Send `reply`, or (`queue`) add its bytes, copied now, to those a batch sends
        together."""
        if self.printed:  # what the call just answered printed (see _invoke)
            reply["printed"] = self.printed
            self.printed = ""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a student may have replaced the stream
                pass
        try:
            if queue is None:
                wire.send(self.sock, reply, enc)
            else:
                queue.append(wire.frame(reply, enc))
        except wire.ProtocolError as exc:
            fail = {"seq": seq, "ok": False, "error": _error(exc, self.path)}
            if "index" in reply:
                fail["index"] = reply["index"]
            if queue is None:
                wire.send(self.sock, fail)
            else:
                queue.append(wire.frame(fail, None))
