"""The optimizers one weight at a time (correct but slow): every formula on Python floats,
looping over the flattened weights (read into and written back from tensors)."""

import math

import torch


def _flat(x):
    return x.reshape(-1).tolist()


def _tensor(values, like):
    return torch.tensor(values, dtype=like.dtype, device=like.device).reshape(like.shape)


def sgd_momentum_step(w, dw, state, lr, momentum=0.9, weight_decay=0.0):
    ws, gs = _flat(w), _flat(dw)
    vs = None if state is None else _flat(state["v"])
    new_w, new_v = [], []
    for i in range(len(ws)):
        g = gs[i] + weight_decay * ws[i]
        v = g if vs is None else momentum * vs[i] + g
        new_v.append(v)
        new_w.append(ws[i] - lr * v)
    return _tensor(new_w, w), {"v": _tensor(new_v, w)}


def rmsprop_step(w, dw, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    ws, gs = _flat(w), _flat(dw)
    ss = [0.0] * len(ws) if state is None else _flat(state["s"])
    new_w, new_s = [], []
    for i in range(len(ws)):
        g = gs[i] + weight_decay * ws[i]
        s = alpha * ss[i] + (1 - alpha) * g * g
        new_s.append(s)
        new_w.append(ws[i] - lr * g / (math.sqrt(s) + eps))
    return _tensor(new_w, w), {"s": _tensor(new_s, w)}


def adagrad_step(w, dw, state, lr=1e-2, eps=1e-10, weight_decay=0.0):
    ws, gs = _flat(w), _flat(dw)
    Gs = [0.0] * len(ws) if state is None else _flat(state["G"])
    new_w, new_G = [], []
    for i in range(len(ws)):
        g = gs[i] + weight_decay * ws[i]
        G = Gs[i] + g * g
        new_G.append(G)
        new_w.append(ws[i] - lr * g / (math.sqrt(G) + eps))
    return _tensor(new_w, w), {"G": _tensor(new_G, w)}


def _adam(ws, gs, like, state, lr, betas, eps):
    b1, b2 = betas
    n = len(ws)
    t = 1 if state is None else state["t"] + 1
    ms = [0.0] * n if state is None else _flat(state["m"])
    vs = [0.0] * n if state is None else _flat(state["v"])
    new_w, new_m, new_v = [], [], []
    for i in range(n):
        m = b1 * ms[i] + (1 - b1) * gs[i]
        v = b2 * vs[i] + (1 - b2) * gs[i] * gs[i]
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        new_m.append(m)
        new_v.append(v)
        new_w.append(ws[i] - lr * m_hat / (math.sqrt(v_hat) + eps))
    return _tensor(new_w, like), {"t": t, "m": _tensor(new_m, like), "v": _tensor(new_v, like)}


def adam_step(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    ws, gs = _flat(w), _flat(dw)
    gs = [g + weight_decay * x for g, x in zip(gs, ws)]
    return _adam(ws, gs, w, state, lr, betas, eps)


def adamw_step(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    ws = [(1 - lr * weight_decay) * x for x in _flat(w)]
    return _adam(ws, _flat(dw), w, state, lr, betas, eps)
