"""The deterministic companion of the timing: count the aten ops a function dispatches.

A vectorized function dispatches the same ops whatever the batch size; a Python loop over
the batch dispatches a few per sample. So the count at two sizes of one dimension (all
else equal) tells them apart without a clock: measured on backprop's mlp_loss, 44 ops at
N=8 and at N=16 for the reference, 611 and 1195 for a per-sample loop. Only the
dimensions a test names are checked: a loop over time steps in an RNN is legitimate, so
its tests grow N and not T.

The worker counts (`count_ops` in a call request): the native recorder counts the ops
called from outside any op (grader.boundary.oprecord), the Python fallback the aten ops
its TorchDispatchMode sees; either grows by at least one op per iteration of a loop.
A submission could lie about its count, but only to look vectorized: the timing, taken on
the trusted side, still decides; the count can fail code, never pass it.
"""

from __future__ import annotations

from collections.abc import Callable

GROWTH_FACTOR = 2


def count_ops(t, fn: str, args: tuple, kwargs: dict, keep: tuple[int, ...] = ()) -> int:
    """Call the student's `fn` once and return how many aten ops it dispatched.

    A call that fails fails the case the usual way (exception, timeout, not attempted).
    """
    r, _ = t.session.call(fn, args, kwargs, keep=keep, timeout=t.test.timeout,
                          record_ops=True, count_ops=True)
    if r.error is not None:
        t._call_failed(fn, r)
    handles = _handles(r.value)
    if handles:
        t.session.drop(handles)
    return r.op_count


def _handles(value) -> list:
    from grader.boundary.wire import Handle

    if isinstance(value, Handle):
        return [value]
    if isinstance(value, (tuple, list)):
        return [h for v in value for h in _handles(v)]
    if isinstance(value, dict):
        return [h for v in value.values() for h in _handles(v)]
    return []


def growth_verdict(fn: str, dim: str, what: str, small: int, large: int, c_small: int,
                   c_large: int) -> str:
    """The failure message when the count grows with `dim`, else ""."""
    # A loop adds at least one op per extra element; allow a little slack for code that
    # branches on a size, never one op per element.
    if c_large - c_small < max(2, (large - small) // 2):
        return ""
    named = f"{dim} ({what})" if what else dim
    return (f"{fn} dispatched {c_small} aten ops at {dim}={small} and {c_large} at "
            f"{dim}={large}: the work grows with {named}, so the code loops over {dim} in "
            f"Python; vectorize over it")


def check_growth(t, fn: str, make: Callable[..., tuple[tuple, dict]], sizes: dict, dim: str,
                 what: str = "", keep: tuple[int, ...] = ()) -> tuple[str, list[int]]:
    """Count `fn`'s ops at sizes[dim] and GROWTH_FACTOR times it, other sizes unchanged.

    `make(**sizes)` returns (args, kwargs). Returns (failure message or "", [counts]).
    """
    if dim not in sizes or not isinstance(sizes[dim], int):
        raise ValueError(f"{t.test.id}: grow names {dim!r}, which is not one of the sizes "
                         f"{sorted(k for k, v in sizes.items() if isinstance(v, int))}")
    small = sizes[dim]
    large = small * GROWTH_FACTOR
    counts = []
    for n in (small, large):
        args, kwargs = make(**{**sizes, dim: n})
        counts.append(count_ops(t, fn, args, kwargs, keep))
    return growth_verdict(fn, dim, what, small, large, *counts), counts
