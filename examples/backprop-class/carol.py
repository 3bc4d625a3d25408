import torch

from my_helpers import stable_softmax  # a module carol never submitted


def softmax_cross_entropy(logits, y):
    p = stable_softmax(logits)
    return -torch.log(p[torch.arange(len(y)), y]).mean(), p
