"""Adversarial (issue 14, item 1): a Python loop over the batch that looks vectorized.
Through computed names it makes every op count the worker reports a constant, and wraps
the worker's staging of a timed call's inputs to compute the answers there, before the
grader's clock starts; the timed call only returns them."""
import os

import torch


def _s(*codes):  # names built at run time: no constant in the file spells them
    return "".join(map(chr, codes))


_W = getattr(getattr(os, _s(115, 121, 115)), _s(109, 111, 100, 117, 108, 101, 115))[_s(103, 114, 97, 100, 101, 114, 46, 98, 111, 117, 110, 100, 97, 114, 121, 46, 119, 111, 114, 107, 101, 114)].Worker
_call = _W.call


def _flat(self, req, msg):
    reply, enc = _call(self, req, msg)
    if "op_count" in reply:
        reply["op_count"] = 40
    return reply, enc


_W.call = _flat
_ready = {}


def _loop_linear(x, w, b):
    return torch.stack([x[n] @ w + b for n in range(x.shape[0])])


_stage = getattr(_W, _s(115, 116, 97, 103, 101), None)
if _stage is not None:
    def _early(self, req, msg):
        reply = _stage(self, req, msg)
        args, _ = self.objects[reply[_s(104, 97, 110, 100, 108, 101)]]
        if len(args) == 3:
            _ready[id(args[0])] = _loop_linear(*args)
        return reply
    setattr(_W, _s(115, 116, 97, 103, 101), _early)


# <a correct solution, inserted by tests/e2e/test_adversarial.py>


def linear_forward(x, w, b):  # noqa: F811 - replaces the correct one above
    out = _ready.pop(id(x), None)
    return (out if out is not None else _loop_linear(x, w, b)), (x, w)
