"""A correct but naive rnn: loops over the batch as well as over time (one sample's
vectors at a time). Full correctness points; slow."""

import torch


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    h = torch.empty_like(h_prev)
    for n in range(x.shape[0]):
        h[n] = torch.tanh(x[n] @ Wx + h_prev[n] @ Wh + b)
    return h, (x, h_prev, Wx, Wh, h)


def rnn_step_backward(dh, cache):
    x, h_prev, Wx, Wh, h = cache
    dx, dh_prev = torch.empty_like(x), torch.empty_like(h_prev)
    dWx, dWh, db = torch.zeros_like(Wx), torch.zeros_like(Wh), torch.zeros_like(Wh[0])
    for n in range(x.shape[0]):
        da = dh[n] * (1 - h[n] ** 2)
        dx[n] = Wx @ da
        dh_prev[n] = Wh @ da
        dWx += torch.outer(x[n], da)
        dWh += torch.outer(h_prev[n], da)
        db += da
    return dx, dh_prev, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h = x.new_empty(N, T, h0.shape[1])
    for n in range(N):
        prev = h0[n]
        for t in range(T):
            prev = torch.tanh(x[n, t] @ Wx + prev @ Wh + b)
            h[n, t] = prev
    return h, (x, h0, Wx, Wh, h)


def rnn_backward(dh, cache):
    x, h0, Wx, Wh, h = cache
    N, T, _ = x.shape
    dx, dh0 = torch.empty_like(x), torch.empty_like(h0)
    dWx, dWh, db = torch.zeros_like(Wx), torch.zeros_like(Wh), torch.zeros_like(Wh[0])
    for n in range(N):
        carry = torch.zeros_like(h0[n])
        for t in reversed(range(T)):
            da = (dh[n, t] + carry) * (1 - h[n, t] ** 2)
            prev = h[n, t - 1] if t > 0 else h0[n]
            dx[n, t] = Wx @ da
            carry = Wh @ da
            dWx += torch.outer(x[n, t], da)
            dWh += torch.outer(prev, da)
            db += da
        dh0[n] = carry
    return dx, dh0, dWx, dWh, db


def _sig(v):
    return torch.sigmoid(v)


def _lstm_one(x, h, c, Wx, Wh, b):
    H = h.shape[0]
    a = x @ Wx + h @ Wh + b
    i, f, g, o = _sig(a[:H]), _sig(a[H:2 * H]), torch.tanh(a[2 * H:3 * H]), _sig(a[3 * H:])
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new, (i, f, g, o)


def _lstm_one_backward(dh, dc, x, h, c, c_new, gates, Wx, Wh):
    i, f, g, o = gates
    tc = torch.tanh(c_new)
    dct = dc + dh * o * (1 - tc ** 2)
    da = torch.cat([dct * g * i * (1 - i), dct * c * f * (1 - f), dct * i * (1 - g ** 2),
                    dh * tc * o * (1 - o)])
    return Wx @ da, Wh @ da, dct * f, torch.outer(x, da), torch.outer(h, da), da


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    h, c = torch.empty_like(h_prev), torch.empty_like(c_prev)
    gates = []
    for n in range(x.shape[0]):
        h[n], c[n], gs = _lstm_one(x[n], h_prev[n], c_prev[n], Wx, Wh, b)
        gates.append(gs)
    return h, c, (x, h_prev, c_prev, c, gates, Wx, Wh)


def lstm_step_backward(dh, dc, cache):
    x, h_prev, c_prev, c, gates, Wx, Wh = cache
    dx, dh_prev, dc_prev = torch.empty_like(x), torch.empty_like(h_prev), torch.empty_like(c)
    dWx, dWh, db = torch.zeros_like(Wx), torch.zeros_like(Wh), torch.zeros_like(Wh[0])
    for n in range(x.shape[0]):
        dx[n], dh_prev[n], dc_prev[n], a, b_, c_ = _lstm_one_backward(
            dh[n], dc[n], x[n], h_prev[n], c_prev[n], c[n], gates[n], Wx, Wh)
        dWx += a
        dWh += b_
        db += c_
    return dx, dh_prev, dc_prev, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    H = h0.shape[1]
    h = x.new_empty(N, T, H)
    c = x.new_empty(N, T, H)
    gates = [[None] * T for _ in range(N)]
    for n in range(N):
        hp, cp = h0[n], torch.zeros_like(h0[n])
        for t in range(T):
            hp, cp, gates[n][t] = _lstm_one(x[n, t], hp, cp, Wx, Wh, b)
            h[n, t], c[n, t] = hp, cp
    return h, (x, h0, h, c, gates, Wx, Wh)


def lstm_backward(dh, cache):
    x, h0, h, c, gates, Wx, Wh = cache
    N, T, _ = x.shape
    dx, dh0 = torch.empty_like(x), torch.empty_like(h0)
    dWx, dWh, db = torch.zeros_like(Wx), torch.zeros_like(Wh), torch.zeros_like(Wh[0])
    for n in range(N):
        dhc, dcc = torch.zeros_like(h0[n]), torch.zeros_like(h0[n])
        for t in reversed(range(T)):
            hp = h[n, t - 1] if t > 0 else h0[n]
            cp = c[n, t - 1] if t > 0 else torch.zeros_like(h0[n])
            dx[n, t], dhc, dcc, a, b_, c_ = _lstm_one_backward(
                dh[n, t] + dhc, dcc, x[n, t], hp, cp, c[n, t], gates[n][t], Wx, Wh)
            dWx += a
            dWh += b_
            db += c_
        dh0[n] = dhc
    return dx, dh0, dWx, dWh, db


def clip_grad_norm(grads, max_norm):
    total = torch.zeros((), dtype=grads[0].dtype, device=grads[0].device)
    for g in grads:
        for v in g.reshape(-1):
            total = total + v * v
    total = total.sqrt()
    if total > max_norm:
        return [g * (max_norm / (total + 1e-6)) for g in grads], total
    return [g.clone() for g in grads], total
