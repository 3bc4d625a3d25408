"""Other algebraic arrangements: moments as running interpolations (m + (1 - b)(g - m)),
the bias corrections folded into one step size and an eps scaled by sqrt(1 - beta2^t),
AdaGrad's accumulator started from g^2, and Python numbers in the state next to the
tensors: the step count and the running powers beta1^t, beta2^t."""

import torch


def sgd_momentum_step(w, dw, state, lr, momentum=0.9, weight_decay=0.0):
    g = dw + weight_decay * w
    v = g.clone() if state is None else torch.add(g, state["v"], alpha=momentum)
    return torch.sub(w, v, alpha=lr), {"v": v}


def rmsprop_step(w, dw, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    g = dw + weight_decay * w
    s_old = torch.zeros_like(w) if state is None else state["s"]
    s = s_old + (1 - alpha) * (g.square() - s_old)
    return w - lr * (g / (torch.sqrt(s) + eps)), {"s": s}


def adagrad_step(w, dw, state, lr=1e-2, eps=1e-10, weight_decay=0.0):
    g = dw + weight_decay * w
    G = g.square() if state is None else g.square() + state["G"]
    return w - g * lr / (G.sqrt() + eps), {"G": G}


def _adam(w, g, state, lr, betas, eps):
    b1, b2 = betas
    if state is None:
        m, v, p1, p2, t = torch.zeros_like(w), torch.zeros_like(w), 1.0, 1.0, 0
    else:
        m, v = state["m"], state["v"]
        p1, p2, t = state["p1"], state["p2"], state["t"]
    t, p1, p2 = t + 1, p1 * b1, p2 * b2  # p = beta^t, kept as running products
    m = m + (1 - b1) * (g - m)
    v = v + (1 - b2) * (g * g - v)
    # m^ / (sqrt(v^) + eps) = (m / (1 - p1)) * sqrt(1 - p2) / (sqrt(v) + eps sqrt(1 - p2))
    c2 = (1 - p2) ** 0.5
    step = lr * c2 / (1 - p1)
    w_new = w - step * m / (v.sqrt() + eps * c2)
    return w_new, {"m": m, "v": v, "t": t, "p1": p1, "p2": p2}


def adam_step(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    return _adam(w, dw + weight_decay * w, state, lr, betas, eps)


def adamw_step(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return _adam(w - lr * weight_decay * w, dw, state, lr, betas, eps)
