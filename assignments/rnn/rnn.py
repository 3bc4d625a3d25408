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
    # Hint: tanh'(a) = 1 - tanh(a)^2 can be written with the output h alone.
    raise NotImplementedError("rnn_step_forward")


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
    # Hint: first the gradient through tanh, then the same rules as an affine layer.
    raise NotImplementedError("rnn_step_backward")


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
    # Hint: loop over time (not over the batch); each step feeds its state to the next.
    raise NotImplementedError("rnn_forward")


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
    # Hint: walk t = T-1..0; add the gradient coming back from step t+1 to dh[:, t].
    # Hint: step t's previous state is h[:, t-1], and h0 for the first step.
    raise NotImplementedError("rnn_backward")


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
    # Hint: one matrix product for all four gates, then split it into four (N, H) blocks.
    raise NotImplementedError("lstm_step_forward")


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
    # Hint: sigmoid'(a) = s(1 - s) and tanh'(a) = 1 - t^2, both from the gate values.
    # Hint: put the four gate gradients back together in the order i, f, g, o.
    raise NotImplementedError("lstm_step_backward")


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
    # Hint: like rnn_forward, carrying the pair (h, c); keep every step's cache.
    raise NotImplementedError("lstm_forward")


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
    # Hint: two gradients travel back in time, one for h and one for c.
    raise NotImplementedError("lstm_backward")


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
    # Hint: one norm over all tensors together, not one per tensor; return new tensors.
    raise NotImplementedError("clip_grad_norm")
