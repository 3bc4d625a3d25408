"""Adversarial (issue 14, item 3): mlp_loss's gradients by autograd, in the calling
thread, through computed names (requires_grad_ and backward spelled from character codes,
so the static scan sees neither). A backward of matmuls dispatches only allowed ops."""
import torch


def _s(*codes):
    return "".join(map(chr, codes))


# <a correct solution, inserted by tests/e2e/test_adversarial.py>


def mlp_loss(params, x, y):  # noqa: F811 - replaces the correct one above
    ps = {k: v.detach().clone() for k, v in params.items()}
    for v in ps.values():
        getattr(v, _s(114, 101, 113, 117, 105, 114, 101, 115, 95, 103, 114, 97, 100, 95))()
    layers = sorted(int(k[1:]) for k in ps if k[0] == "W")
    acts = x
    for i in layers:
        acts = acts @ ps[f"W{i}"] + ps[f"b{i}"]
        if i != layers[-1]:
            acts = acts * (acts > 0)
    m = acts.amax(dim=1, keepdim=True).detach()
    lse = m + torch.log(torch.exp(acts - m).sum(dim=1, keepdim=True))
    loss = (lse.squeeze(1) - acts.gather(1, y[:, None]).squeeze(1)).mean()
    getattr(loss, _s(98, 97, 99, 107, 119, 97, 114, 100))()
    return loss.detach(), {k: v.grad for k, v in ps.items()}
