"""Recurrent networks by hand: a vanilla RNN, an LSTM, backpropagation through time and
gradient clipping.

Shapes: N batch size, T time steps, D input size, H hidden size.

A sequence x has shape (N, T, D): x[:, t] is the batch's input at step t. Every hidden
state sequence h has shape (N, T, H). The same weights are used at every step, so their
gradients are sums over the steps. Each forward function returns what its backward needs
(`cache`); each backward takes the upstream gradient and that cache. Autograd and the
library's recurrent layers are not allowed; torch.tanh and torch.sigmoid are.
"""

import torch  # noqa: F401  (unused in the generated stub)


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    """One step of a vanilla (Elman) RNN with a tanh nonlinearity:

        h = tanh(x @ Wx + h_prev @ Wh + b)

    Args:
        x: (N, D) inputs at this step.
        h_prev: (N, H) hidden state of the previous step.
        Wx: (D, H) input-to-hidden weights.
        Wh: (H, H) hidden-to-hidden weights.
        b: (H,) bias.
    Returns:
        h: (N, H) the new hidden state.
        cache: whatever rnn_step_backward needs.
    """
    # BEGIN SOLUTION
    # HINT: tanh'(a) = 1 - tanh(a)^2 can be written with the output h alone.
    h = torch.tanh(x @ Wx + h_prev @ Wh + b)  # (N, H)
    return h, (x, h_prev, Wx, Wh, h)
    # END SOLUTION


def rnn_step_backward(dh, cache):
    """Backward pass of one RNN step.

    With a = x @ Wx + h_prev @ Wh + b and h = tanh(a):
        da = dh * (1 - h^2)
        dx = da @ Wx^T,  dh_prev = da @ Wh^T,  dWx = x^T @ da,  dWh = h_prev^T @ da,
        db = sum over the batch of da.

    Args:
        dh: (N, H) upstream gradient dL/dh.
        cache: from rnn_step_forward.
    Returns:
        dx: (N, D), dh_prev: (N, H), dWx: (D, H), dWh: (H, H), db: (H,).
    """
    # BEGIN SOLUTION
    # HINT: first the gradient through tanh, then the same rules as an affine layer.
    x, h_prev, Wx, Wh, h = cache
    da = dh * (1 - h * h)  # (N, H)
    dx = da @ Wx.T  # (N, D)
    dh_prev = da @ Wh.T  # (N, H)
    dWx = x.T @ da  # (D, H)
    dWh = h_prev.T @ da  # (H, H)
    db = da.sum(dim=0)  # (H,)
    return dx, dh_prev, dWx, dWh, db
    # END SOLUTION


def rnn_forward(x, h0, Wx, Wh, b):
    """A vanilla RNN unrolled over a whole sequence:

        h_0 = h0,   h_t = tanh(x_t @ Wx + h_{t-1} @ Wh + b)   for t = 1..T

    (the code's step index t = 0..T-1 holds h_1..h_T).

    Args:
        x: (N, T, D) input sequence.
        h0: (N, H) initial hidden state.
        Wx: (D, H), Wh: (H, H), b: (H,) shared by every step.
    Returns:
        h: (N, T, H) the hidden state after every step.
        cache: whatever rnn_backward needs.
    """
    # BEGIN SOLUTION
    # HINT: loop over time (not over the batch); each step feeds its state to the next.
    T = x.shape[1]
    h_prev = h0  # (N, H)
    hs = []
    for t in range(T):
        h_prev, _ = rnn_step_forward(x[:, t], h_prev, Wx, Wh, b)  # (N, H)
        hs.append(h_prev)
    h = torch.stack(hs, dim=1)  # (N, T, H)
    return h, (x, h0, Wx, Wh, h)
    # END SOLUTION


def rnn_backward(dh, cache):
    """Backpropagation through time for rnn_forward.

    h_t receives gradient from two places: the loss directly (dh[:, t]) and the next
    step, through h_{t+1} = tanh(x_{t+1} @ Wx + h_t @ Wh + b). Going backwards in time:

        g_T = dh_T,   g_t = dh_t + (dh_prev returned by step t+1's backward)

    and each step's backward gets g_t. The weights are shared, so dWx, dWh and db are
    sums over the steps; dh0 is what flows out of the first step.

    Args:
        dh: (N, T, H) upstream gradient of every hidden state (not only the last).
        cache: from rnn_forward.
    Returns:
        dx: (N, T, D), dh0: (N, H), dWx: (D, H), dWh: (H, H), db: (H,).
    """
    # BEGIN SOLUTION
    # HINT: walk t = T-1..0; add the gradient coming back from step t+1 to dh[:, t].
    # HINT: step t's previous state is h[:, t-1], and h0 for the first step.
    x, h0, Wx, Wh, h = cache
    T = x.shape[1]
    h_prev = torch.cat([h0.unsqueeze(1), h[:, :-1]], dim=1)  # (N, T, H)
    dx = torch.zeros_like(x)  # (N, T, D)
    dWx, dWh = torch.zeros_like(Wx), torch.zeros_like(Wh)  # (D, H), (H, H)
    db = torch.zeros_like(h0[0])  # (H,)
    dh_next = torch.zeros_like(h0)  # (N, H) gradient reaching h_t from step t+1
    for t in reversed(range(T)):
        g = dh[:, t] + dh_next  # (N, H)
        step_cache = (x[:, t], h_prev[:, t], Wx, Wh, h[:, t])
        dx_t, dh_next, dWx_t, dWh_t, db_t = rnn_step_backward(g, step_cache)
        dx[:, t] = dx_t
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dh_next, dWx, dWh, db
    # END SOLUTION


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One step of an LSTM (gates in PyTorch's order i, f, g, o):

        a = x @ Wx + h_prev @ Wh + b                  (N, 4H), split along the last axis
        i = sigmoid(a[:, 0:H])      input gate
        f = sigmoid(a[:, H:2H])     forget gate
        g = tanh(a[:, 2H:3H])       candidate cell values
        o = sigmoid(a[:, 3H:4H])    output gate
        c = f * c_prev + i * g
        h = o * tanh(c)

    Args:
        x: (N, D) inputs at this step.
        h_prev: (N, H) previous hidden state.
        c_prev: (N, H) previous cell state.
        Wx: (D, 4H), Wh: (H, 4H), b: (4H,).
    Returns:
        h: (N, H) new hidden state.
        c: (N, H) new cell state.
        cache: whatever lstm_step_backward needs.
    """
    # BEGIN SOLUTION
    # HINT: one matrix product for all four gates, then split it into four (N, H) blocks.
    a = x @ Wx + h_prev @ Wh + b  # (N, 4H)
    a_i, a_f, a_g, a_o = a.chunk(4, dim=1)  # each (N, H)
    i, f, o = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.sigmoid(a_o)  # (N, H)
    g = torch.tanh(a_g)  # (N, H)
    c = f * c_prev + i * g  # (N, H)
    tanh_c = torch.tanh(c)  # (N, H)
    h = o * tanh_c  # (N, H)
    return h, c, (x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c)
    # END SOLUTION


def lstm_step_backward(dh, dc, cache):
    """Backward pass of one LSTM step.

    The cell state receives gradient from the loss through h = o * tanh(c) and directly
    from the next step (dc):

        dc_total = dc + dh * o * (1 - tanh(c)^2)
        do = dh * tanh(c),  di = dc_total * g,  dg = dc_total * i,  df = dc_total * c_prev
        dc_prev = dc_total * f
        da = [di * i(1-i), df * f(1-f), dg * (1-g^2), do * o(1-o)]   (N, 4H), order i, f, g, o

    and from da the affine rules: dx = da @ Wx^T, dh_prev = da @ Wh^T, dWx = x^T @ da,
    dWh = h_prev^T @ da, db = sum over the batch of da.

    Args:
        dh: (N, H) upstream gradient of h.
        dc: (N, H) upstream gradient of c.
        cache: from lstm_step_forward.
    Returns:
        dx: (N, D), dh_prev: (N, H), dc_prev: (N, H), dWx: (D, 4H), dWh: (H, 4H), db: (4H,).
    """
    # BEGIN SOLUTION
    # HINT: sigmoid'(a) = s(1 - s) and tanh'(a) = 1 - t^2, both from the gate values.
    # HINT: put the four gate gradients back together in the order i, f, g, o.
    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c = cache
    dc_total = dc + dh * o * (1 - tanh_c * tanh_c)  # (N, H)
    d_i = dc_total * g  # (N, H)
    d_f = dc_total * c_prev  # (N, H)
    d_g = dc_total * i  # (N, H)
    d_o = dh * tanh_c  # (N, H)
    dc_prev = dc_total * f  # (N, H)
    da = torch.cat([d_i * i * (1 - i), d_f * f * (1 - f), d_g * (1 - g * g),
                    d_o * o * (1 - o)], dim=1)  # (N, 4H)
    dx = da @ Wx.T  # (N, D)
    dh_prev = da @ Wh.T  # (N, H)
    dWx = x.T @ da  # (D, 4H)
    dWh = h_prev.T @ da  # (H, 4H)
    db = da.sum(dim=0)  # (4H,)
    return dx, dh_prev, dc_prev, dWx, dWh, db
    # END SOLUTION


def lstm_forward(x, h0, Wx, Wh, b):
    """An LSTM unrolled over a sequence, starting from h0 and c0 = 0:

        h_t, c_t = lstm_step(x_t, h_{t-1}, c_{t-1})   for t = 1..T

    Args:
        x: (N, T, D) input sequence.
        h0: (N, H) initial hidden state.
        Wx: (D, 4H), Wh: (H, 4H), b: (4H,) shared by every step.
    Returns:
        h: (N, T, H) the hidden state after every step (the cell states are internal).
        cache: whatever lstm_backward needs.
    """
    # BEGIN SOLUTION
    # HINT: like rnn_forward, carrying the pair (h, c); keep every step's cache.
    T = x.shape[1]
    h_prev, c_prev = h0, torch.zeros_like(h0)  # (N, H)
    hs, caches = [], []
    for t in range(T):
        h_prev, c_prev, step_cache = lstm_step_forward(x[:, t], h_prev, c_prev, Wx, Wh, b)
        hs.append(h_prev)
        caches.append(step_cache)
    h = torch.stack(hs, dim=1)  # (N, T, H)
    return h, caches
    # END SOLUTION


def lstm_backward(dh, cache):
    """Backpropagation through time for lstm_forward.

    As in rnn_backward, step t's backward gets dh[:, t] plus the dh_prev of step t+1;
    the cell state carries its own gradient backwards too: step t gets the dc_prev of
    step t+1 (zero for the last step, since c_T reaches the loss only through h_T).
    dWx, dWh and db are sums over the steps; dh0 flows out of the first step (c0 = 0 is
    a constant, so its gradient is not returned).

    Args:
        dh: (N, T, H) upstream gradient of every hidden state.
        cache: from lstm_forward.
    Returns:
        dx: (N, T, D), dh0: (N, H), dWx: (D, 4H), dWh: (H, 4H), db: (4H,).
    """
    # BEGIN SOLUTION
    # HINT: two gradients travel back in time, one for h and one for c.
    caches = cache
    T = len(caches)
    dxs = [None] * T
    dh_next = torch.zeros_like(dh[:, 0])  # (N, H)
    dc_next = torch.zeros_like(dh[:, 0])  # (N, H)
    dWx, dWh = torch.zeros_like(caches[0][3]), torch.zeros_like(caches[0][4])
    db = torch.zeros_like(caches[0][4][0])  # (4H,)
    for t in reversed(range(T)):
        g = dh[:, t] + dh_next  # (N, H)
        dxs[t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward(g, dc_next, caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    dx = torch.stack(dxs, dim=1)  # (N, T, D)
    return dx, dh_next, dWx, dWh, db
    # END SOLUTION


def clip_grad_norm(grads, max_norm):
    """Gradient clipping by global norm.

        total_norm = sqrt(sum over every tensor g in grads of sum(g^2))
        clipped = [g * max_norm / (total_norm + 1e-6) for g in grads]  if total_norm > max_norm
                  [a copy of g for g in grads]                          otherwise

    All tensors are scaled by the same factor, so the update keeps its direction.

    Args:
        grads: a list of tensors of any shapes (the same dtype and device).
        max_norm: a positive number.
    Returns:
        clipped: a list of new tensors, shaped like grads.
        total_norm: 0-dim tensor in the grads' dtype, the norm before clipping.
    """
    # BEGIN SOLUTION
    # HINT: one norm over all tensors together, not one per tensor; return new tensors.
    total_norm = torch.stack([(g * g).sum() for g in grads]).sum().sqrt()  # ()
    if total_norm > max_norm:
        scale = max_norm / (total_norm + 1e-6)  # ()
    else:
        scale = 1.0
    clipped = [g * scale for g in grads]
    return clipped, total_norm
    # END SOLUTION
