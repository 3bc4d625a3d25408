"""A correct rnn in another style: the input projections of all time steps in one einsum
before the loop, the loop over time doing only the recurrent part, weight gradients as
one einsum over (batch, time) after the loop, and gates read from a (N, 4, H) view.
Sequence functions do not call the step functions."""

import torch


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    h = torch.tanh(torch.addmm(b, x, Wx) + h_prev @ Wh)
    return h, (x, h_prev, Wx, Wh, h)


def rnn_step_backward(dh, cache):
    x, h_prev, Wx, Wh, h = cache
    da = dh - dh * h.pow(2)
    return (torch.einsum("nh,dh->nd", da, Wx), torch.einsum("nh,kh->nk", da, Wh),
            torch.einsum("nd,nh->dh", x, da), torch.einsum("nk,nh->kh", h_prev, da),
            da.sum(0))


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    xw = torch.einsum("ntd,dh->nth", x, Wx) + b  # all steps at once
    h = x.new_empty(N, T, h0.shape[1])
    prev = h0
    for t in range(T):
        prev = torch.tanh(xw[:, t] + prev @ Wh)
        h[:, t] = prev
    return h, (x, h0, Wh, Wx, h)


def rnn_backward(dh, cache):
    x, h0, Wh, Wx, h = cache
    N, T, _ = x.shape
    da = torch.empty_like(h)
    carry = torch.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        da[:, t] = (dh[:, t] + carry) * (1 - h[:, t] ** 2)
        carry = da[:, t] @ Wh.T
    h_prev = torch.cat([h0[:, None], h[:, :-1]], 1)
    dx = torch.einsum("nth,dh->ntd", da, Wx)
    dWx = torch.einsum("ntd,nth->dh", x, da)
    dWh = torch.einsum("ntk,nth->kh", h_prev, da)
    db = da.sum((0, 1))
    return dx, carry, dWx, dWh, db


def _gates(a):
    N = a.shape[0]
    v = a.view(N, 4, -1)
    return torch.sigmoid(v[:, 0]), torch.sigmoid(v[:, 1]), torch.tanh(v[:, 2]), \
        torch.sigmoid(v[:, 3])


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    a = torch.addmm(b, x, Wx) + torch.mm(h_prev, Wh)
    i, f, g, o = _gates(a)
    c = torch.addcmul(f * c_prev, i, g)
    h = o * torch.tanh(c)
    return h, c, (x, h_prev, c_prev, Wx, Wh, i, f, g, o, c)


def _lstm_da(dh, dc, i, f, g, o, c, c_prev):
    tc = torch.tanh(c)
    dct = dh * o * (1 - tc * tc) + dc
    gates = torch.stack([dct * g * i * (1 - i), dct * c_prev * f * (1 - f),
                         dct * i * (1 - g ** 2), dh * tc * o * (1 - o)], dim=1)  # (N, 4, H)
    return gates.reshape(dh.shape[0], -1), dct * f


def lstm_step_backward(dh, dc, cache):
    x, h_prev, c_prev, Wx, Wh, i, f, g, o, c = cache
    da, dc_prev = _lstm_da(dh, dc, i, f, g, o, c, c_prev)
    return da @ Wx.T, da @ Wh.T, dc_prev, x.T @ da, h_prev.T @ da, da.sum(0)


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    xw = torch.einsum("ntd,dg->ntg", x, Wx) + b
    hs, cs, gates = [], [], []
    h, c = h0, torch.zeros_like(h0)
    for t in range(T):
        i, f, g, o = _gates(xw[:, t] + h @ Wh)
        c = f * c + i * g
        h = o * torch.tanh(c)
        hs.append(h)
        cs.append(c)
        gates.append((i, f, g, o))
    return torch.stack(hs, 1), (x, h0, Wx, Wh, hs, cs, gates)


def lstm_backward(dh, cache):
    x, h0, Wx, Wh, hs, cs, gates = cache
    N, T, _ = x.shape
    das = [None] * T
    dh_carry, dc_carry = torch.zeros_like(h0), torch.zeros_like(h0)
    for t in reversed(range(T)):
        i, f, g, o = gates[t]
        c_prev = cs[t - 1] if t > 0 else torch.zeros_like(h0)
        das[t], dc_carry = _lstm_da(dh[:, t] + dh_carry, dc_carry, i, f, g, o, cs[t], c_prev)
        dh_carry = das[t] @ Wh.T
    da = torch.stack(das, 1)  # (N, T, 4H)
    h_prev = torch.stack([h0] + hs[:-1], 1)
    return (torch.einsum("ntg,dg->ntd", da, Wx), dh_carry,
            torch.einsum("ntd,ntg->dg", x, da), torch.einsum("ntk,ntg->kg", h_prev, da),
            da.sum((0, 1)))


def clip_grad_norm(grads, max_norm):
    flat = torch.cat([g.reshape(-1) for g in grads])
    total = torch.linalg.vector_norm(flat)
    factor = torch.where(total > max_norm, max_norm / (total + 1e-6), torch.ones_like(total))
    return [g * factor for g in grads], total
