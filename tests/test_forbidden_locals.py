"""The static scan taints a function through the module-level names it uses, never through
a local name that happens to match another function's local."""

from grader import forbidden

SOURCE = '''
import torch

def uses_library(x):
    Dm = x.shape[-1]
    return torch.softmax(x / Dm, -1)

def calls_it(x):
    return uses_library(x)

def innocent(T, Dm):
    t = torch.arange(T)
    return t * Dm

if True:
    def conditional(x):
        return torch.softmax(x, 0)
'''


def test_locals_do_not_carry_taint():
    tainted = forbidden.scan(SOURCE, (), ("softmax",))
    assert set(tainted) == {"uses_library", "calls_it", "conditional"}
    assert [u.line for u in tainted["calls_it"]] == [6]
