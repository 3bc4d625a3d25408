"""The static scan taints top-level names, not functions' local variables."""

from grader.engine import forbidden

SOURCE = """
import torch.nn.functional as F


def uses_conv(x, w):
    out = F.conv2d(x, w)
    return out


def clean(x, w):
    out = x @ w
    return out


def calls_it(x, w):
    return uses_conv(x, w)


def sets_global():
    global hidden
    hidden = F.conv2d


def reads_global(x):
    return hidden(x)
"""


def test_same_named_locals_do_not_spread_taint():
    tainted = forbidden.scan(SOURCE, ["torch.nn.functional.conv*"], ["conv*"])
    assert "uses_conv" in tainted and "calls_it" in tainted
    assert "clean" not in tainted
    assert "out" not in tainted and "x" not in tainted


def test_global_declared_in_a_function_is_top_level():
    tainted = forbidden.scan(SOURCE, ["torch.nn.functional.conv*"], ["conv*"])
    assert "hidden" in tainted and "reads_global" in tainted
