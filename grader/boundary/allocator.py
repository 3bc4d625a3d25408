"""The same heap behaviour in every process that times or is timed.

glibc's malloc serves a block of 128 KB or more from a fresh mmap, and raises that
threshold only as such blocks are freed. A freshly forked worker therefore page-faults on
every megabyte its function allocates, while the long-lived grader, whose threshold has
long since risen, reuses its heap: the same `softmax_cross_entropy` on the same inputs
took 2.5-3.7 ms in a worker and 1.3 ms in the trusted process (backprop's perf_softmax_ce,
N=4096, C=32, float64). Fixed thresholds, set in the fork server before any worker exists
and in the trusted process before it times anything, give both sides one behaviour: blocks
up to 32 MB come from the heap, and freed memory is kept for the next call.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
"""glibc's largest allowed value (64-bit): larger blocks are still mmapped on both sides."""
TRIM_THRESHOLD = 128 * 1024 * 1024
"""Free heap memory kept for reuse before any is given back."""

_settled: list[bool] = []


def settle() -> bool:
    """Fix this process's malloc thresholds (once); False where malloc is not glibc's."""
    if _settled:
        return _settled[0]
    ok = False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = getattr(libc, "mallopt", None)
        if mallopt is not None:
            ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
                bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except OSError:
        ok = False
    _settled.append(ok)
    return ok
