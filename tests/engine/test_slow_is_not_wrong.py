"""A correct but slow call reads as slow, never as a wrong answer (issue 15, item 4)."""

from tests.conftest import ROOT, grade

SLOW = (ROOT / "reference" / "backprop" / "backprop.py").read_text() + '''

import time as _time
_fast_linear_forward = linear_forward


def linear_forward(x, w, b):
    _time.sleep(5)  # correct, but slower than the limit
    return _fast_linear_forward(x, w, b)
'''


def test_a_timeout_reads_too_slow_for_the_time_limit(zygote):
    r = grade(zygote, "backprop", SLOW, timeout=1.0, test_ids={"linear", "linear_public"})
    by_id = {t.id: t for t in r.tests}
    hidden, public = by_id["linear"], by_id["linear_public"]
    assert hidden.points == 0 and public.points == 0
    assert "linear_forward: too slow for the time limit (1 s per call)" in hidden.output
    assert "too slow for the time limit (1 s per call)" in public.output
    assert "speed is graded by the performance tests" in public.output
    for text in (hidden.output, public.output):
        assert "timed out" not in text and "differ" not in text and "wrong" not in text
