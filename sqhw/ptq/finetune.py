"""A short SR-STE fine-tune (Zhou et al., ICLR 2021) that makes a classifier N:M sparse
before quantization: every Linear / Conv weight runs masked (the N largest |w| of every M
along K) in the forward pass, the gradient passes straight through and pulls the pruned
weights toward zero, so the masks settle while the model recovers.

Uses sqhw.sparsity.srste; after training each weight is replaced by its masked value.
"""

from __future__ import annotations

import copy

import torch
from torch.nn.utils import parametrize

from ..sparsity import NM
from ..sparsity.srste import srste


class _Masked(torch.nn.Module):
    def __init__(self, nm: NM, shape):
        super().__init__()
        self.nm, self.shape = nm, shape

    def forward(self, weight):
        flat = weight.reshape(weight.shape[0], -1)  # (out, K): N:M along K
        return srste(flat, self.nm).reshape(weight.shape)


def srste_finetune(model: torch.nn.Module, nm: NM, train: tuple, layers: list[str],
                   epochs: int = 10, lr: float = 1e-3, batch: int = 64,
                   seed: int = 0) -> torch.nn.Module:
    """A copy of model fine-tuned with SR-STE on (inputs, labels); the named layers'
    weights come back N:M sparse (exactly: masked with the final mask)."""
    model = copy.deepcopy(model)
    modules = dict(model.named_modules())
    for name in layers:
        weight = modules[name].weight
        if weight.reshape(weight.shape[0], -1).shape[1] >= nm.m:
            parametrize.register_parametrization(modules[name], "weight",
                                                 _Masked(nm, weight.shape))
    x, y = train
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    for name in layers:
        if parametrize.is_parametrized(modules[name], "weight"):
            parametrize.remove_parametrizations(modules[name], "weight",
                                                leave_parametrized=True)
    return model
