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
    {"op": "bye"}
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
"message", "traceback"}.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import traceback

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from grader.boundary import canary, wire

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


_install_tripwires()


def _recorder_intact(recorder: OpRecorder) -> bool:
    """Whether `recorder` is still the innermost dispatch mode and unpatched (checked
    with references taken before any student code ran)."""
    n = _stack_len()
    return (n > 0 and _stack_at(n - 1) is recorder and type(recorder) is OpRecorder
            and OpRecorder.__torch_dispatch__ is _DISPATCH and type(recorder.ops) is set
            and not _guard["popped"])


def _error(exc: BaseException) -> dict:
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    # Drop the worker's own frames: the student needs their code's frames only.
    text = "".join(line for line in tb if "grader/boundary/worker.py" not in line)
    return {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "traceback": text[-4000:],
    }


def _storage(t: torch.Tensor) -> int:
    try:
        return t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):  # tensors without storage (subclasses)
        return -1


class Worker:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.module = None
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
        fn = self.function(req["fn"])
        recorder = (OpRecorder() if req.get("record_ops", True) or req.get("count_ops")
                    else None)
        functions = FunctionRecorder() if recorder is not None else None
        repeat = max(1, int(req.get("repeat", 1)))
        intact = False
        if recorder is not None:
            with functions, recorder:
                _guard.update(active=True, popped=False)
                try:
                    result = fn(*args, **kwargs)
                finally:
                    _guard["active"] = False
                intact = _recorder_intact(recorder)
        else:
            for _ in range(repeat):
                result = fn(*args, **kwargs)
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
        reply = {"result": value, "mutated": mutated, "aliased": aliased}
        if recorder is not None and intact:  # no record at all when it was tampered with
            reply["ops"] = sorted(recorder.ops)
            if req.get("count_ops"):
                reply["op_count"] = recorder.count
            reply["functions"] = sorted(functions.names)
            reply["autograd"] = recorder.autograd
            reply["recorder"] = "intact"
        return reply, enc

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
                if op == "load":
                    reply = self.load(req)
                elif op == "call":
                    reply, enc = self.call(req, msg)
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
                reply, enc = {"seq": seq, "ok": False, "error": _error(exc)}, None
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001 - a student may have replaced the stream
                    pass
            try:
                wire.send(self.sock, reply, enc)
            except wire.ProtocolError as exc:
                wire.send(self.sock, {"seq": seq, "ok": False, "error": _error(exc)})
