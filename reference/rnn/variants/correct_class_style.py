"""A legitimate "mytorch"-style recurrent network: activation objects, RNNCell and
LSTMCell objects with forward/backward methods, and sequence layers that keep one cell
object per time step (CMU 11-785's mytorch/rnn_cell.py).

Names like `self.lstm_cell`, `self.rnn_cell`, `self.tanh` are the student's own: the
static scan must not take them for torch.lstm_cell, torch.rnn_tanh_cell or torch.tanh's
library recurrent kernels.
"""

from builtins import range  # noqa: UP029 (the first line of many CS231n layers.py)

import torch


class Tanh:
    def forward(self, z):
        self.A = torch.tanh(z)
        return self.A

    def backward(self, dLdA):
        return dLdA * (1 - self.A * self.A)


class Sigmoid:
    def forward(self, z):
        self.A = torch.sigmoid(z)
        return self.A

    def backward(self, dLdA):
        return dLdA * self.A * (1 - self.A)


class RNNCell:
    def __init__(self):
        self.tanh = Tanh()

    def forward(self, x, h_prev, Wx, Wh, b):
        self.x, self.h_prev, self.Wx, self.Wh = x, h_prev, Wx, Wh
        return self.tanh.forward(x @ Wx + h_prev @ Wh + b)

    def backward(self, dh):
        da = self.tanh.backward(dh)  # (N, H)
        return (da @ self.Wx.T, da @ self.Wh.T, self.x.T @ da, self.h_prev.T @ da,
                da.sum(dim=0))


class LSTMCell:
    def __init__(self):
        self.i_act, self.f_act, self.o_act = Sigmoid(), Sigmoid(), Sigmoid()
        self.g_act, self.c_act = Tanh(), Tanh()

    def forward(self, x, h_prev, c_prev, Wx, Wh, b):
        self.x, self.h_prev, self.c_prev, self.Wx, self.Wh = x, h_prev, c_prev, Wx, Wh
        a_i, a_f, a_g, a_o = (x @ Wx + h_prev @ Wh + b).chunk(4, dim=1)
        self.i = self.i_act.forward(a_i)
        self.f = self.f_act.forward(a_f)
        self.g = self.g_act.forward(a_g)
        self.o = self.o_act.forward(a_o)
        c = self.f * c_prev + self.i * self.g
        self.tanh_c = self.c_act.forward(c)
        return self.o * self.tanh_c, c

    def backward(self, dh, dc):
        dc = dc + self.c_act.backward(dh * self.o)
        da = torch.cat([self.i_act.backward(dc * self.g), self.f_act.backward(dc * self.c_prev),
                        self.g_act.backward(dc * self.i), self.o_act.backward(dh * self.tanh_c)],
                       dim=1)  # (N, 4H)
        return (da @ self.Wx.T, da @ self.Wh.T, dc * self.f, self.x.T @ da,
                self.h_prev.T @ da, da.sum(dim=0))


class RNN:
    """One RNNCell object per time step."""

    def forward(self, x, h0, Wx, Wh, b):
        self.cells = []
        h, hs = h0, []
        for t in range(x.shape[1]):
            self.cells.append(RNNCell())
            h = self.cells[-1].forward(x[:, t], h, Wx, Wh, b)
            hs.append(h)
        self.h0 = h0
        return torch.stack(hs, dim=1)

    def backward(self, dh):
        dxs = []
        dh_next = torch.zeros_like(self.h0)
        dWx = dWh = db = 0
        for t in reversed(range(len(self.cells))):
            rnn_cell = self.cells[t]
            dx, dh_next, dWx_t, dWh_t, db_t = rnn_cell.backward(dh[:, t] + dh_next)
            dxs.append(dx)
            dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
        return torch.stack(dxs[::-1], dim=1), dh_next, dWx, dWh, db


class LSTM:
    def __init__(self):
        self.lstm_cells = []

    def forward(self, x, h0, Wx, Wh, b):
        h, c, hs = h0, torch.zeros_like(h0), []
        for t in range(x.shape[1]):
            lstm_cell = LSTMCell()
            self.lstm_cells.append(lstm_cell)
            h, c = lstm_cell.forward(x[:, t], h, c, Wx, Wh, b)
            hs.append(h)
        return torch.stack(hs, dim=1)

    def backward(self, dh):
        dxs = []
        dh_next = torch.zeros_like(dh[:, 0])
        dc_next = torch.zeros_like(dh[:, 0])
        dWx = dWh = db = 0
        for t, lstm_cell in reversed(list(enumerate(self.lstm_cells))):
            dx, dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_cell.backward(
                dh[:, t] + dh_next, dc_next)
            dxs.append(dx)
            dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
        return torch.stack(dxs[::-1], dim=1), dh_next, dWx, dWh, db


class LSTMStep:
    """lstm_step_forward's cache: the cell and nothing else."""

    def __init__(self):
        self.lstm_cell = LSTMCell()


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    rnn_cell = RNNCell()
    return rnn_cell.forward(x, h_prev, Wx, Wh, b), rnn_cell


def rnn_step_backward(dh, cache):
    return cache.backward(dh)


def rnn_forward(x, h0, Wx, Wh, b):
    layer = RNN()
    return layer.forward(x, h0, Wx, Wh, b), layer


def rnn_backward(dh, cache):
    return cache.backward(dh)


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    step = LSTMStep()
    h, c = step.lstm_cell.forward(x, h_prev, c_prev, Wx, Wh, b)
    return h, c, step


def lstm_step_backward(dh, dc, cache):
    return cache.lstm_cell.backward(dh, dc)


def lstm_forward(x, h0, Wx, Wh, b):
    layer = LSTM()
    return layer.forward(x, h0, Wx, Wh, b), layer


def lstm_backward(dh, cache):
    return cache.backward(dh)


class GradClipper:
    def __init__(self, max_norm):
        self.max_norm = max_norm

    def total_norm(self, grads):
        return torch.stack([(g * g).sum() for g in grads]).sum().sqrt()

    def clip(self, grads):
        norm = self.total_norm(grads)
        scale = self.max_norm / (norm + 1e-6) if norm > self.max_norm else 1.0
        return [g * scale for g in grads], norm


def clip_grad_norm(grads, max_norm):
    return GradClipper(max_norm).clip(grads)
