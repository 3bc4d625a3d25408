"""Canary calls: calls whose true record the trusted side knows, mixed with the student's.

What a call dispatched (aten ops, torch functions), whether autograd took part and which
inputs it wrote to are observed inside the worker, next to student code that can reach
the worker's modules (computed names defeat any static scan) and forge or silence the
reply. So the trusted side calls `probe` through the same request type, with the same
flags, at random points among the submission's calls (grader.boundary.session): `probe`
dispatches a forbidden op, uses autograd, writes to its first input and loops over its
rows, and returns a value the trusted side recomputes. A worker whose record of a probe
call differs from the truth (computed here, in the trusted process, by the same recorder)
has had its checks tampered with, and the submission scores 0 (grader.engine.grading).

This module runs on both sides and imports nothing of the grader's.
"""

from __future__ import annotations

import secrets

import torch

REASON = "the grader's run-time checks were tampered with"
REQUIRED_OPS = ("relu", "_softmax", "add_", "mm")
"""Ops every probe dispatches on every device (the CPU record is compared in full)."""
REQUIRED_FUNCTIONS = ("relu", "softmax", "backward")


def probe(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x (n, d), w (d, k), float64 -> (n, k). Modifies x in place (x += 1)."""
    y = torch.relu(x)                                   # forbidden in backprop and others
    p = torch.softmax(y @ w, dim=1)                     # (n, k)
    # autograd, on the CPU: a CUDA backward runs in a thread of the engine's own, and the
    # worker may start none
    # (whatever grad mode the submission set for itself: an honest torch.no_grad() or
    # set_grad_enabled(False) at import must not make this call fail)
    with torch.inference_mode(False), torch.enable_grad():
        w2 = w.detach().cpu().clone().requires_grad_()
        (x.detach().cpu() @ w2).sum().backward()
    g = float(w2.grad.sum())
    rows = torch.stack([r.sum() for r in y])            # n ops: the count grows with n
    x.add_(1.0)                                         # an in-place write to an input
    return p + g + rows[:, None]


def probe_value(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """What probe(x, w) returns, computed without autograd: the gradient of
    (x @ w).sum() with respect to w is x^T @ ones (what the engine's MmBackward computes),
    and the loop over rows is a row sum. A tenth of the probe's cost, and the trusted side
    computes one per canary call."""
    y = torch.relu(x)
    p = torch.softmax(y @ w, dim=1)
    g = float((x.t() @ torch.ones(x.shape[0], w.shape[1], dtype=x.dtype)).sum())
    return p + g + y.sum(dim=1)[:, None]


def make_inputs(large: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh inputs of a random size, from the OS's randomness (not any seed a submission
    could know). `large`: up to 512 rows (op counts like a loop's, for a count call: a
    forger that lowered only large counts would pass small probes)."""
    g = torch.Generator().manual_seed(secrets.randbits(62))
    n = 2 + secrets.randbelow(510 if large else 6)
    return (torch.randn(n, 4, generator=g, dtype=torch.float64),
            torch.randn(4, 3, generator=g, dtype=torch.float64))


def name() -> str:
    """A fresh function name for one worker's probe."""
    return "f" + secrets.token_hex(6)


def expected_record(x: torch.Tensor, w: torch.Tensor, recorder) -> dict:
    """What an honest worker reports for probe(x, w): computed here, on clones, under the
    worker's own recorders. `recorder(fn, *args)` runs fn under them and returns (result,
    record) (grader.boundary.worker.record for the fork server's recorder mode; the worker
    imports this module, not the other way). The record is a dict of "ops", "functions",
    "op_count", "autograd" and "closed" (whether the ops are the whole record, or a part
    the worker's must contain)."""
    # The record depends on the shapes alone (the probe's ops and its loop over rows), so
    # it is taken once per shape; the value is computed for every call.
    key = (tuple(x.shape), tuple(w.shape), x.dtype, w.dtype, recorder)
    record = _RECORDS.get(key)
    if record is None:
        _, record = recorder(probe, x.clone(), w.clone())
        _RECORDS[key] = record
    return {"value": probe_value(x, w), **record}


_RECORDS: dict = {}


def verify(reply, expected: dict, *, count_ops: bool, exact: bool) -> str:
    """Why a probe call's reply (a grader.boundary.session.CallResult) is not what an
    honest worker sends, or "" when it is. `exact`: the device is the one the expectation
    was computed on (the CPU), so the op record must match in full; elsewhere the ops every
    device dispatches must be there and the count may only be higher."""
    if reply.error is not None:
        return f"the check call failed ({reply.error.type})"
    value = reply.value
    if not isinstance(value, torch.Tensor) or value.shape != expected["value"].shape \
            or not torch.allclose(value.to("cpu", torch.float64), expected["value"],
                                  rtol=1e-9, atol=1e-9):
        return "the check call returned a wrong value"
    if reply.mutated != [0]:
        return f"the check call's in-place write was reported as {reply.mutated}"
    if reply.autograd is not True:
        return "the check call's use of autograd was not reported"
    ops, functions = set(reply.ops), set(reply.functions)
    missing = [o for o in (expected["ops"] if exact else REQUIRED_OPS) if o not in ops]
    if missing:
        return f"the check call's record lacks the ops {', '.join(missing)}"
    required = REQUIRED_FUNCTIONS if expected.get("closed", True) else ()
    missing = [f for f in (expected["functions"] if exact else required)
               if f not in functions]
    if missing:
        return f"the check call's record lacks the functions {', '.join(missing)}"
    if exact and expected.get("closed", True) and ops != set(expected["ops"]):
        extra = sorted(ops - set(expected["ops"]))
        return f"the check call's record has ops it did not dispatch: {', '.join(extra)}"
    if count_ops and (reply.op_count != expected["op_count"] if exact
                      else reply.op_count < expected["op_count"]):
        return (f"the check call's op count was reported as {reply.op_count}, "
                f"not {expected['op_count']}")
    return ""
