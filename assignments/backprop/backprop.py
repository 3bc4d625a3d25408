"""Backpropagation by hand: the layers and losses of a multi-layer perceptron.

Shapes: N batch size, D input features, M output features, C classes.

Every layer has a forward function returning (out, cache) and a backward function that
takes the upstream gradient dout = dL/dout and the cache, and returns the gradient of the
loss with respect to each input (the chain rule, one layer at a time). Autograd and the
library's activations and losses are not allowed: write them from tensor algebra.
"""

import torch


def linear_forward(x, w, b):
    """Affine layer: out = x @ w + b.

    Args:
        x: (N, D) inputs.
        w: (D, M) weights.
        b: (M,) bias.
    Returns:
        out: (N, M).
        cache: whatever linear_backward needs.
    """
    # Hint: one matrix product and a broadcast add; keep what the backward pass needs.
    raise NotImplementedError("linear_forward")


def linear_backward(dout, cache):
    """Backward pass of the affine layer.

    With out = x @ w + b:  dx = dout @ w^T,  dw = x^T @ dout,  db = sum over the batch of dout.

    Args:
        dout: (N, M) upstream gradient dL/dout.
        cache: from linear_forward.
    Returns:
        dx: (N, D), dw: (D, M), db: (M,).
    """
    # Hint: each gradient has the shape of its variable; let the shapes pick the transposes.
    raise NotImplementedError("linear_backward")


def relu_forward(x):
    """Rectified linear unit: out = max(x, 0), elementwise.

    Args:
        x: any shape.
    Returns:
        out: same shape as x.
        cache: whatever relu_backward needs.
    """
    # Hint: torch.clamp or torch.where; torch.relu is not allowed.
    raise NotImplementedError("relu_forward")


def relu_backward(dout, cache):
    """Backward pass of ReLU: dx = dout where x > 0, else 0 (the derivative at 0 is 0).

    Args:
        dout: upstream gradient, the shape of x.
        cache: from relu_forward.
    Returns:
        dx: the shape of x.
    """
    # Hint: a mask of where the input was strictly positive.
    raise NotImplementedError("relu_backward")


def sigmoid_forward(x):
    """Logistic sigmoid: out = 1 / (1 + exp(-x)), elementwise.

    Must not overflow for |x| up to 1e4: exp(-x) overflows for x << 0. Use
    exp(-|x|) <= 1, which never overflows:
        x >= 0: 1 / (1 + exp(-|x|));   x < 0: exp(-|x|) / (1 + exp(-|x|)).

    Args:
        x: any shape.
    Returns:
        out: same shape as x, in (0, 1).
        cache: whatever sigmoid_backward needs.
    """
    # Hint: compute e = exp(-|x|) once, then pick the formula by the sign of x.
    raise NotImplementedError("sigmoid_forward")


def sigmoid_backward(dout, cache):
    """Backward pass of the sigmoid: dx = dout * s * (1 - s), with s = sigmoid(x).

    Args:
        dout: upstream gradient, the shape of x.
        cache: from sigmoid_forward.
    Returns:
        dx: the shape of x.
    """
    # Hint: the derivative is a function of the forward output.
    raise NotImplementedError("sigmoid_backward")


def softmax_cross_entropy(logits, y):
    """Mean softmax cross-entropy loss and its gradient.

    With p = softmax(z) row by row, loss = -(1/N) sum_n log p[n, y_n] and
    dL/dz = (p - onehot(y)) / N. Stable for logits of magnitude 1e4: subtract each row's
    max before exponentiating (softmax is unchanged by a shift), and compute
    log p = z - log(sum(exp(z))) without taking the log of a probability that underflowed.

    Args:
        logits: (N, C) scores z.
        y: (N,) int64 class indices in [0, C).
    Returns:
        loss: 0-dim tensor.
        dlogits: (N, C).
    """
    # Hint: shift by the row max, then log-sum-exp; gather the correct classes with y.
    raise NotImplementedError("softmax_cross_entropy")


def mse_loss(pred, target):
    """Mean squared error: loss = mean over all elements of 0.5 * (pred - target)**2.

    Its gradient is dpred = (pred - target) / (number of elements).

    Args:
        pred: any shape.
        target: the shape of pred.
    Returns:
        loss: 0-dim tensor.
        dpred: the shape of pred.
    """
    raise NotImplementedError("mse_loss")


def mlp_loss(params, x, y):
    """Loss and gradients of an L-layer perceptron with ReLU hidden layers.

    h_0 = x;  h_i = relu(h_{i-1} @ W_i + b_i) for i < L;  z = h_{L-1} @ W_L + b_L;
    loss = softmax_cross_entropy(z, y). Backward runs the layers in reverse, each turning
    the gradient of its output into the gradients of its input and parameters.

    Args:
        params: dict with keys W1, b1, ..., WL, bL (L >= 1); Wi (D_{i-1}, D_i), bi (D_i,).
            Key order is arbitrary; params must not be modified.
        x: (N, D_0) inputs.
        y: (N,) int64 labels in [0, D_L).
    Returns:
        loss: 0-dim tensor.
        grads: dict with exactly the keys of params, each the shape of its parameter.
    """
    # Hint: L is the number of W keys; store each layer's cache on the way forward.
    raise NotImplementedError("mlp_loss")
