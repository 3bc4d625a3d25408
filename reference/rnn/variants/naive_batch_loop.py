"""A correct but naive rnn as students often write it: the step functions are vectorized
over the batch, but the sequence functions run one sequence at a time (a Python loop
over the batch around the loop over time, each step on a batch of one). Full correctness
points; loses the performance points (the op count grows with N)."""

import torch


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    h = torch.tanh(x @ Wx + h_prev @ Wh + b)
    return h, (x, h_prev, Wx, Wh, h)


def rnn_step_backward(dh, cache):
    x, h_prev, Wx, Wh, h = cache
    da = dh * (1 - h * h)
    return da @ Wx.T, da @ Wh.T, x.T @ da, h_prev.T @ da, da.sum(dim=0)


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    sequences, caches = [], []
    for n in range(N):  # one sequence at a time
        prev, steps = h0[n:n + 1], []
        for t in range(T):
            prev, cache = rnn_step_forward(x[n:n + 1, t], prev, Wx, Wh, b)
            steps.append(cache)
            sequences.append(prev)
        caches.append(steps)
    h = torch.cat(sequences, dim=0).reshape(N, T, -1)
    return h, caches


def rnn_backward(dh, cache):
    N, T = dh.shape[0], dh.shape[1]
    dxs, dh0s = [], []
    dWx, dWh, db = 0, 0, 0
    for n in range(N):
        carry, dx_n = torch.zeros_like(dh[n:n + 1, 0]), [None] * T
        for t in reversed(range(T)):
            dx_n[t], carry, a, b_, c = rnn_step_backward(dh[n:n + 1, t] + carry, cache[n][t])
            dWx, dWh, db = dWx + a, dWh + b_, db + c
        dxs.append(torch.stack(dx_n, dim=1))
        dh0s.append(carry)
    return torch.cat(dxs), torch.cat(dh0s), dWx, dWh, db


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    a = x @ Wx + h_prev @ Wh + b
    a_i, a_f, a_g, a_o = a.chunk(4, dim=1)
    i, f, o, g = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.sigmoid(a_o), torch.tanh(a_g)
    c = f * c_prev + i * g
    tanh_c = torch.tanh(c)
    return o * tanh_c, c, (x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c)


def lstm_step_backward(dh, dc, cache):
    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c = cache
    dc_total = dc + dh * o * (1 - tanh_c * tanh_c)
    da = torch.cat([dc_total * g * i * (1 - i), dc_total * c_prev * f * (1 - f),
                    dc_total * i * (1 - g * g), dh * tanh_c * o * (1 - o)], dim=1)
    return (da @ Wx.T, da @ Wh.T, dc_total * f, x.T @ da, h_prev.T @ da, da.sum(dim=0))


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    sequences, caches = [], []
    for n in range(N):  # one sequence at a time
        h, c, steps = h0[n:n + 1], torch.zeros_like(h0[n:n + 1]), []
        for t in range(T):
            h, c, cache = lstm_step_forward(x[n:n + 1, t], h, c, Wx, Wh, b)
            steps.append(cache)
            sequences.append(h)
        caches.append(steps)
    return torch.cat(sequences, dim=0).reshape(N, T, -1), caches


def lstm_backward(dh, cache):
    N, T = dh.shape[0], dh.shape[1]
    dxs, dh0s = [], []
    dWx, dWh, db = 0, 0, 0
    for n in range(N):
        dhc, dcc = torch.zeros_like(dh[n:n + 1, 0]), torch.zeros_like(dh[n:n + 1, 0])
        dx_n = [None] * T
        for t in reversed(range(T)):
            dx_n[t], dhc, dcc, a, b_, c = lstm_step_backward(dh[n:n + 1, t] + dhc, dcc,
                                                             cache[n][t])
            dWx, dWh, db = dWx + a, dWh + b_, db + c
        dxs.append(torch.stack(dx_n, dim=1))
        dh0s.append(dhc)
    return torch.cat(dxs), torch.cat(dh0s), dWx, dWh, db


def clip_grad_norm(grads, max_norm):
    total_norm = torch.stack([(g * g).sum() for g in grads]).sum().sqrt()
    scale = max_norm / (total_norm + 1e-6) if total_norm > max_norm else 1.0
    return [g * scale for g in grads], total_norm
