"""The optimizers arranged as torch.optim arranges them (lerp, addcmul, addcdiv on fresh
copies, step size lr / bias_correction1, denominator sqrt(v) / sqrt(bc2) + eps), with the
step count kept as a 0-D tensor."""

import torch


def _decayed(w, dw, weight_decay):
    return dw.add(w, alpha=weight_decay) if weight_decay != 0 else dw


def sgd_momentum_step(w, dw, state, lr, momentum=0.9, weight_decay=0.0):
    g = _decayed(w, dw, weight_decay)
    if state is None:
        buf = g.detach().clone()
    else:
        buf = state["momentum_buffer"].clone().mul_(momentum).add_(g)
    return w.add(buf, alpha=-lr), {"momentum_buffer": buf}


def rmsprop_step(w, dw, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    g = _decayed(w, dw, weight_decay)
    square_avg = torch.zeros_like(w) if state is None else state["square_avg"].clone()
    square_avg.mul_(alpha).addcmul_(g, g, value=1 - alpha)
    avg = square_avg.sqrt().add_(eps)
    return w.addcdiv(g, avg, value=-lr), {"square_avg": square_avg}


def adagrad_step(w, dw, state, lr=1e-2, eps=1e-10, weight_decay=0.0):
    g = _decayed(w, dw, weight_decay)
    state_sum = torch.zeros_like(w) if state is None else state["sum"].clone()
    state_sum.addcmul_(g, g, value=1)
    std = state_sum.sqrt().add_(eps)
    return w.addcdiv(g, std, value=-lr), {"sum": state_sum}


def _adam(param, grad, state, lr, betas, eps):
    beta1, beta2 = betas
    if state is None:
        step_t = torch.zeros((), dtype=torch.float32)
        exp_avg, exp_avg_sq = torch.zeros_like(param), torch.zeros_like(param)
    else:
        step_t = state["step"].clone()
        exp_avg, exp_avg_sq = state["exp_avg"].clone(), state["exp_avg_sq"].clone()
    step_t += 1
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    step = step_t.item()
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(eps)
    new = param.addcdiv(exp_avg, denom, value=-step_size)
    return new, {"step": step_t, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}


def adam_step(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    return _adam(w, _decayed(w, dw, weight_decay), state, lr, betas, eps)


def adamw_step(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return _adam(w.mul(1 - lr * weight_decay), dw, state, lr, betas, eps)
