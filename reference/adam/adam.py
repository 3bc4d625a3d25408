"""Gradient-based optimizers as pure functions: SGD with momentum, RMSProp, AdaGrad, Adam, AdamW.

Shapes: w (the weights) may have any shape, including 0-D; dw (dL/dw) and every tensor in
the state have the shape of w.

Each optimizer takes the current weights w, their gradient dw and the optimizer's state,
and returns the new weights and the new state:

    w, state = adam_step(w, dw, state)            # state=None on the first step

The state is a dict of your own design (tensors and Python numbers). The caller keeps it
and passes it back, unchanged, on the next step. Nothing is modified in place: w, dw and
the old state's tensors stay as they were, and the new state shares no tensor with them.
All arithmetic stays in w's dtype (float32 or float64). Notation: eta is the learning rate
lr, lambda the weight decay, t the step number (1 on the first step), and squares, square
roots and divisions of tensors are elementwise.
"""

import torch  # noqa: F401 (the stub does not use it yet; your solution will)


def sgd_momentum_step(w, dw, state, lr, momentum=0.9, weight_decay=0.0):
    """Stochastic gradient descent with (heavy-ball) momentum, as torch.optim.SGD with
    dampening 0 and nesterov=False.

        g   = dw + lambda * w                     (L2 weight decay)
        v_1 = g,   v_t = momentum * v_{t-1} + g   (the velocity; the first one is g itself)
        w  <- w - eta * v_t

    Args:
        w: weights, any shape.  dw: dL/dw, the shape of w.
        state: None on the first step, else the state this function returned last time.
        lr: learning rate eta.  momentum: mu in [0, 1).  weight_decay: lambda >= 0.
    Returns:
        w: the new weights (the shape and dtype of w).  state: the new state (a dict).
    """
    # BEGIN SOLUTION
    # HINT: the velocity is the only state; on the first step it is g itself (a copy).
    g = dw + weight_decay * w  # like w
    v = g if state is None else momentum * state["velocity"] + g  # like w
    w_new = w - lr * v
    return w_new, {"velocity": v}
    # END SOLUTION


def rmsprop_step(w, dw, state, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    """RMSProp, as torch.optim.RMSprop (centered=False, momentum=0): divide the gradient by
    a running root mean square of recent gradients.

        g  = dw + lambda * w
        s  = alpha * s + (1 - alpha) * g^2        (s = 0 before the first step)
        w <- w - eta * g / (sqrt(s) + eps)        (eps outside the square root)

    Args:
        w: weights, any shape.  dw: dL/dw, the shape of w.
        state: None on the first step, else the state this function returned last time.
        lr: eta.  alpha: decay of the running average.  eps: added to the denominator.
        weight_decay: lambda.
    Returns:
        w: the new weights.  state: the new state (a dict).
    """
    # BEGIN SOLUTION
    # HINT: one running average of g^2; eps is added after the square root.
    g = dw + weight_decay * w  # like w
    s = torch.zeros_like(w) if state is None else state["square_avg"]  # like w
    s = alpha * s + (1 - alpha) * g * g
    w_new = w - lr * g / (s.sqrt() + eps)
    return w_new, {"square_avg": s}
    # END SOLUTION


def adagrad_step(w, dw, state, lr=1e-2, eps=1e-10, weight_decay=0.0):
    """AdaGrad, as torch.optim.Adagrad (initial accumulator 0, no learning-rate decay):
    each weight's step shrinks with the sum of all its squared gradients so far.

        g  = dw + lambda * w
        G  = G + g^2                              (G = 0 before the first step)
        w <- w - eta * g / (sqrt(G) + eps)

    Args:
        w: weights, any shape.  dw: dL/dw, the shape of w.
        state: None on the first step, else the state this function returned last time.
        lr: eta.  eps: added to the denominator, outside the square root.
        weight_decay: lambda.
    Returns:
        w: the new weights.  state: the new state (a dict).
    """
    # BEGIN SOLUTION
    # HINT: the state is the running sum of squared gradients (it never decays).
    g = dw + weight_decay * w  # like w
    G = g * g if state is None else state["sum"] + g * g  # like w
    w_new = w - lr * g / (G.sqrt() + eps)
    return w_new, {"sum": G}
    # END SOLUTION


# BEGIN SOLUTION
def _adam_update(w, g, state, lr, betas, eps):
    """Adam's moments and step for the (already decayed) gradient g."""
    beta1, beta2 = betas
    if state is None:
        step, m, v = 0, torch.zeros_like(w), torch.zeros_like(w)
    else:
        step, m, v = state["step"], state["m"], state["v"]
    step += 1
    m = beta1 * m + (1 - beta1) * g  # like w
    v = beta2 * v + (1 - beta2) * g * g  # like w
    m_hat = m / (1 - beta1**step)
    v_hat = v / (1 - beta2**step)
    w_new = w - lr * m_hat / (v_hat.sqrt() + eps)
    return w_new, {"step": step, "m": m, "v": v}


# END SOLUTION


def adam_step(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """Adam, as torch.optim.Adam (amsgrad=False): momentum on the gradient and RMSProp's
    scaling, with both running averages corrected for their start at zero.

        t  <- t + 1                               (t = 1 on the first step)
        g   = dw + lambda * w                     (L2 weight decay, added to the gradient)
        m   = beta1 * m + (1 - beta1) * g         (m = v = 0 before the first step)
        v   = beta2 * v + (1 - beta2) * g^2
        m^  = m / (1 - beta1^t),   v^ = v / (1 - beta2^t)
        w  <- w - eta * m^ / (sqrt(v^) + eps)     (eps outside the square root)

    Args:
        w: weights, any shape.  dw: dL/dw, the shape of w.
        state: None on the first step, else the state this function returned last time.
        lr: eta.  betas: (beta1, beta2).  eps: added to the denominator.
        weight_decay: lambda.
    Returns:
        w: the new weights.  state: the new state (a dict).
    """
    # BEGIN SOLUTION
    # HINT: keep t, m and v in the state; the bias corrections use t after incrementing it.
    g = dw + weight_decay * w  # like w
    return _adam_update(w, g, state, lr, betas, eps)
    # END SOLUTION


def adamw_step(w, dw, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """AdamW, as torch.optim.AdamW: Adam with decoupled weight decay. The weights shrink
    directly, and the decay never enters the moments:

        w  <- (1 - eta * lambda) * w
        then Adam's step with g = dw (no weight decay in the gradient).

    Args:
        w: weights, any shape.  dw: dL/dw, the shape of w.
        state: None on the first step, else the state this function returned last time.
        lr: eta.  betas: (beta1, beta2).  eps: added to the denominator.
        weight_decay: lambda (default 1e-2).
    Returns:
        w: the new weights.  state: the new state (a dict).
    """
    # BEGIN SOLUTION
    # HINT: shrink w first, then take exactly Adam's step with the raw gradient.
    w_decayed = (1 - lr * weight_decay) * w  # like w
    return _adam_update(w_decayed, dw, state, lr, betas, eps)
    # END SOLUTION
