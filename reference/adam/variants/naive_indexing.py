"""The optimizers one weight at a time, the way a first attempt indexes tensors (correct
but slow): a loop over the flattened weights, reading each element with .item(), doing
the arithmetic on Python floats and writing each result into a new tensor by index.
Unlike naive_elementwise (Python floats from tolist()), every element dispatches tensor
ops (select, item, fill), so the op count grows with the length."""

import math

import torch


def _loop(w, dw, state, keys, update):
    """Apply `update(w_i, g_i, *state_i) -> (w_i', *state_i')` element by element."""
    flat_w, flat_g = w.reshape(-1), dw.reshape(-1)
    old = [torch.zeros_like(flat_w) if state is None else state[k].reshape(-1) for k in keys]
    new_w = torch.empty_like(flat_w)
    new = [torch.empty_like(flat_w) for _ in keys]
    for i in range(flat_w.numel()):
        out = update(flat_w[i].item(), flat_g[i].item(), *(s[i].item() for s in old))
        new_w[i] = out[0]
        for s, v in zip(new, out[1:]):
            s[i] = v
    shape = w.shape
    return new_w.reshape(shape), {k: s.reshape(shape) for k, s in zip(keys, new)}


def sgd_momentum_step(w, dw, state, lr, momentum=0.9, weight_decay=0.0):
    first = state is None

    def update(wi, gi, vi):
        g = gi + weight_decay * wi
        v = g if first else momentum * vi + g
        return wi - lr * v, v

    return _loop(w, dw, state, ["v"], update)


def rmsprop_step(w, dw, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    def update(wi, gi, si):
        g = gi + weight_decay * wi
        s = alpha * si + (1 - alpha) * g * g
        return wi - lr * g / (math.sqrt(s) + eps), s

    return _loop(w, dw, state, ["s"], update)


def adagrad_step(w, dw, state, lr=1e-2, eps=1e-10, weight_decay=0.0):
    def update(wi, gi, Gi):
        g = gi + weight_decay * wi
        G = Gi + g * g
        return wi - lr * g / (math.sqrt(G) + eps), G

    return _loop(w, dw, state, ["G"], update)


def _adam(w, dw, state, lr, betas, eps, decay_in_grad, decoupled):
    b1, b2 = betas
    t = 1 if state is None else state["t"] + 1

    def update(wi, gi, mi, vi):
        wi = wi * (1 - lr * decoupled)
        g = gi + decay_in_grad * wi
        m = b1 * mi + (1 - b1) * g
        v = b2 * vi + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        return wi - lr * m_hat / (math.sqrt(v_hat) + eps), m, v

    w_new, new_state = _loop(w, dw, state, ["m", "v"], update)
    return w_new, {**new_state, "t": t}


def adam_step(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    return _adam(w, dw, state, lr, betas, eps, weight_decay, 0.0)


def adamw_step(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return _adam(w, dw, state, lr, betas, eps, 0.0, weight_decay)
