"""Public tests for normalization: the same checks as the hidden ones, on fewer cases.

Run them with `dlgrade check normalization` (inputs and expected values come from
fixtures/). perf_normalization_public times your batchnorm_forward and layernorm_forward
against torch.nn.functional.batch_norm and layer_norm on the same inputs.
"""

import torch
import torch.nn.functional as F

from grader.testing import dtype_name


def bn_params(t, C, dtype):
    """gamma, beta, running_mean, running_var for C channels (running_var > 0)."""
    return (t.randn(C, dtype=dtype, scale=0.5) + 1.0, t.randn(C, dtype=dtype),
            t.randn(C, dtype=dtype), t.rand(C, dtype=dtype, low=0.5, high=2.0))


def batchnorm_public(t):
    cases = [(torch.float64, (6, 4), True), (torch.float32, (3, 2, 4, 5), True),
             (torch.float64, (2, 3, 5, 4), False)]
    for dtype, shape, train in cases:
        mode = "training" if train else "evaluation"
        with t.case(f"{dtype_name(dtype)} shape={shape} {mode}"):
            x = t.randn(*shape, dtype=dtype, scale=2.0) + 0.5
            params = bn_params(t, shape[1], dtype)
            fw = t.run("batchnorm_forward", x, *params, train)
            t.run("batchnorm_backward", t.randn(*shape, dtype=dtype), fw.cache)


def layernorm_public(t):
    for dtype, shape in [(torch.float64, (4, 6)), (torch.float32, (2, 3, 5))]:
        with t.case(f"{dtype_name(dtype)} shape={shape}"):
            D = shape[-1]
            x = t.randn(*shape, dtype=dtype, scale=2.0) - 1.0
            gamma = t.randn(D, dtype=dtype, scale=0.5) + 1.0
            fw = t.run("layernorm_forward", x, gamma, t.randn(D, dtype=dtype))
            t.run("layernorm_backward", t.randn(*shape, dtype=dtype), fw.cache)


# ---------------------------------------------------------------- performance
# Sizes and limits are in assignment.yaml (perf_normalization_public's options).


def native_batchnorm(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1,
                     eps=1e-5):
    """The baseline: the library's batch norm, which updates the running statistics in
    place (so it gets copies), returning what batchnorm_forward returns."""
    mean, var = running_mean.clone(), running_var.clone()
    out = F.batch_norm(x, mean, var, gamma, beta, train, momentum, eps)
    return out, None, mean, var


def native_layernorm(x, gamma, beta, eps=1e-5):
    return F.layer_norm(x, (x.shape[-1],), gamma, beta, eps), None


def perf_normalization_public(t):
    def bn_inputs(N, C, H, W, dtype):
        return (t.randn(N, C, H, W, dtype=dtype), *bn_params(t, C, dtype), True)

    def ln_inputs(R, D, dtype):
        return t.randn(R, D, dtype=dtype), t.randn(D, dtype=dtype), t.randn(D, dtype=dtype)

    t.perf("batchnorm_forward", bn_inputs, grow={"N": "the batch", "C": "the channels"},
           count_sizes={"N": 8, "C": 4, "H": 4, "W": 4}, baseline=native_batchnorm,
           baseline_name="F.batch_norm")
    t.perf("layernorm_forward", ln_inputs, grow={"R": "the rows"}, count_sizes={"R": 8},
           baseline=native_layernorm, baseline_name="F.layer_norm")
