"""Public tests for adam: short optimizer trajectories, compared step by step.

Run them with `dlgrade check adam`. Your state goes back to your function unchanged on the
next step (its format is yours); after every step your w is compared with the reference
solution's w, recorded in fixtures/. The hidden tests run longer trajectories (50 to 60
steps) on more shapes, dtypes and hyper-parameters, with and without weight decay.

perf_adam_public times your adam_step against torch.optim.Adam's update
(torch.optim.adam.adam: one step from state=None, on a parameter of 8192 elements); only w
is compared, your state is yours.
"""

import torch

from grader.testing import Tolerance, describe_value, dtype_name


def _trajectory(t, fn, shape, dtype, steps, args=(), kwargs=None, grad_scale=1.0):
    kwargs = kwargs or {}
    base = t.tolerance(dtype)
    w_0 = t.randn(*shape, dtype=dtype)
    # The reference's steps first, then yours in one request (t.chain): your w and state
    # go on to your next step unchanged, as if they had been sent back to you each time.
    w_r, state_r, dws, expected = w_0, None, [], []
    for _ in range(steps):
        dws.append(t.randn(*shape, dtype=dtype, scale=grad_scale))
        w_r, state_r = t.reference(fn, w_r, dws[-1], state_r, *args, **kwargs)
        expected.append(w_r)
    calls = [((w_0 if k == 0 else t.previous(0), dw, None if k == 0 else t.previous(1), *args),
              kwargs) for k, dw in enumerate(dws)]
    scale = float(w_0.abs().max())
    for k, ((value, types), w_r) in enumerate(zip(t.chain(fn, calls), expected), 1):
        if not (isinstance(value, (tuple, list)) and len(value) == 2):
            t.fail("structure", f"{fn}: expected a tuple (w, state), got {describe_value(value)}")
        w_new, state_new = value
        if not isinstance(state_new, dict):
            t.fail("structure", f"{fn}: the state must be a dict, got "
                   f"{describe_value(state_new)}")
        scale = max(scale, float(w_r.abs().max()))
        # Rounding accumulates relative to the largest weights seen so far.
        tol = Tolerance(rtol=base.rtol, atol=base.atol + base.atol_scaled * scale)
        t.check(f"w after step {k}", w_new, w_r, dtype=dtype, tol=tol, types=types)


def optimizers_public(t):
    for fn, dtype, shape, args, kwargs in [
        ("sgd_momentum_step", torch.float64, (4, 3), (0.05,), {}),
        ("sgd_momentum_step", torch.float32, (5,), (), dict(lr=0.02, weight_decay=0.1)),
        ("rmsprop_step", torch.float64, (2, 3, 2), (), {}),
        ("adagrad_step", torch.float64, (6,), (), dict(lr=0.1, weight_decay=0.05)),
    ]:
        with t.case(f"{fn} {dtype_name(dtype)} w{shape}, 15 steps"):
            _trajectory(t, fn, shape, dtype, 15, args, kwargs)


def adam_public(t):
    for fn, dtype, shape, args, kwargs, scale in [
        ("adam_step", torch.float64, (3, 4), (), {}, 1.0),
        ("adam_step", torch.float32, (5,), (1e-2, (0.8, 0.99), 1e-8, 0.1), {}, 1.0),
        ("adamw_step", torch.float64, (2, 3, 2), (), dict(lr=1e-2, weight_decay=0.1), 1.0),
        ("adam_step", torch.float64, (6,), (), {}, 1e-9),
    ]:
        with t.case(f"{fn} {dtype_name(dtype)} w{shape}, |dw| ~ {scale:g}, 20 steps"):
            _trajectory(t, fn, shape, dtype, 20, args, kwargs, grad_scale=scale)


def native_adam(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """torch.optim.Adam's first step, through the function its `step` calls
    (torch.optim.adam.adam, the single-tensor loop, not the fused kernels): the baseline
    of perf_adam_public. The optimizer object's own first step imports torch._dynamo
    (1.5-2 s of CPU) and adds ~0.1 ms of bookkeeping: that is not Adam. Its state is its
    own, and is not compared."""
    from torch.optim.adam import adam

    p = w.clone()
    exp_avg, exp_avg_sq = torch.zeros_like(p), torch.zeros_like(p)
    step = torch.tensor(0.0, dtype=torch.float32)
    adam([p], [dw], [exp_avg], [exp_avg_sq], [], [step], foreach=False, fused=False,
         amsgrad=False, beta1=betas[0], beta2=betas[1], lr=lr, weight_decay=weight_decay,
         eps=eps, maximize=False, capturable=False, differentiable=False)
    return p, {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}


def perf_adam_public(t):
    def inputs(L, dtype):
        return (t.randn(L, dtype=dtype), t.randn(L, dtype=dtype), None), \
            {"lr": 1e-2, "weight_decay": 1e-2}

    t.perf("adam_step", inputs, sizes={"L": 8192}, grow={"L": "the parameter's length"},
           count_sizes={"L": 8}, compare=("w",), baseline=native_adam,
           baseline_name="torch.optim.Adam")
