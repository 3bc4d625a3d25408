"""A correct rnn in a third style: input and state concatenated, [x, h_prev] @ [Wx; Wh],
one matmul per step and one for the weight gradients; the LSTM's weights viewed as four
(K, H) gate blocks (einsum "nk,kgh->ngh"); the sequence functions keep lists of states
and call the step functions; clipping by the sum of per-tensor squared norms."""

import torch


def _stack_w(Wx, Wh):
    return torch.cat([Wx, Wh], dim=0)  # (D + H, G)


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    xh = torch.cat([x, h_prev], dim=1)
    h = (xh @ _stack_w(Wx, Wh) + b).tanh()
    return h, (xh, Wx, Wh, h)


def rnn_step_backward(dh, cache):
    xh, Wx, Wh, h = cache
    D = Wx.shape[0]
    da = (1 - h) * (1 + h) * dh
    dxh = da @ _stack_w(Wx, Wh).T
    dW = xh.T @ da
    return dxh[:, :D], dxh[:, D:], dW[:D], dW[D:], da.sum(dim=0)


def rnn_forward(x, h0, Wx, Wh, b):
    states, caches = [h0], []
    for x_t in x.unbind(1):
        h, cache = rnn_step_forward(x_t, states[-1], Wx, Wh, b)
        states.append(h)
        caches.append(cache)
    return torch.stack(states[1:], 1), caches


def rnn_backward(dh, cache):
    dxs, dWx, dWh, db = [], 0, 0, 0
    dnext = torch.zeros_like(dh[:, 0])
    for t in range(len(cache) - 1, -1, -1):
        dx, dnext, a, b_, c = rnn_step_backward(dnext + dh[:, t], cache[t])
        dxs.insert(0, dx)
        dWx, dWh, db = dWx + a, dWh + b_, db + c
    return torch.stack(dxs, 1), dnext, dWx, dWh, db


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    xh = torch.cat([x, h_prev], dim=1)
    H = h_prev.shape[1]
    W = _stack_w(Wx, Wh).reshape(-1, 4, H)  # (K, gate, H)
    a = torch.einsum("nk,kgh->ngh", xh, W) + b.reshape(4, H)
    i, f, g, o = a.unbind(1)
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    c = c_prev * f + g * i
    h = torch.tanh(c) * o
    return h, c, (xh, c_prev, Wx, Wh, torch.stack([i, f, g, o], 1), c)


def lstm_step_backward(dh, dc, cache):
    xh, c_prev, Wx, Wh, gates, c = cache
    i, f, g, o = gates.unbind(1)
    D, H = Wx.shape[0], Wh.shape[0]
    tc = torch.tanh(c)
    dc = dc + dh * o * (1 - tc ** 2)
    dgates = torch.stack([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                          dc * i * (1 - g) * (1 + g), dh * tc * o * (1 - o)], 1)  # (N, 4, H)
    W = _stack_w(Wx, Wh).reshape(-1, 4, H)
    dxh = torch.einsum("ngh,kgh->nk", dgates, W)
    dW = torch.einsum("nk,ngh->kgh", xh, dgates).reshape(D + H, 4 * H)
    return dxh[:, :D], dxh[:, D:], dc * f, dW[:D], dW[D:], dgates.sum(0).reshape(-1)


def lstm_forward(x, h0, Wx, Wh, b):
    h, c, caches, hs = h0, h0 * 0, [], []
    for x_t in x.unbind(1):
        h, c, cache = lstm_step_forward(x_t, h, c, Wx, Wh, b)
        hs.append(h)
        caches.append(cache)
    return torch.stack(hs, 1), caches


def lstm_backward(dh, cache):
    T = len(cache)
    dxs = [None] * T
    dWx = dWh = db = None
    dh_next = dc_next = torch.zeros_like(dh[:, 0])
    for t in range(T - 1, -1, -1):
        dxs[t], dh_next, dc_next, a, b_, c = lstm_step_backward(dh[:, t] + dh_next, dc_next,
                                                                cache[t])
        dWx = a if dWx is None else dWx + a
        dWh = b_ if dWh is None else dWh + b_
        db = c if db is None else db + c
    return torch.stack(dxs, 1), dh_next, dWx, dWh, db


def clip_grad_norm(grads, max_norm):
    sq = sum(torch.linalg.vector_norm(g) ** 2 for g in grads)
    total = torch.sqrt(sq)
    if float(total) <= max_norm:
        return [g.clone() for g in grads], total
    scale = max_norm / (total + 1e-6)
    return [scale * g for g in grads], total
