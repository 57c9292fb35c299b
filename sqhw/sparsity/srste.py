"""SR-STE (Zhou et al., ICLR 2021): train N:M sparse weights with the sparse-refined
straight-through estimator. The forward pass uses the masked weights; the backward pass
passes the gradient straight through and adds decay * (1 - mask) * w, which pulls pruned
weights toward zero so the mask settles.

Imports torch (only this module of sqhw.sparsity does)."""

from __future__ import annotations

import torch

from .nm import NM


class _SRSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, mask, decay):
        ctx.save_for_backward(weight, mask)
        ctx.decay = decay
        return weight * mask

    @staticmethod
    def backward(ctx, grad):
        weight, mask = ctx.saved_tensors
        return grad + ctx.decay * (~mask) * weight, None, None


def srste(weight: torch.Tensor, nm: NM, decay: float = 2e-4) -> torch.Tensor:
    """Masked weight for the forward pass; the mask is recomputed from |weight| each call.

    >>> import torch
    >>> w = torch.tensor([[0.25, -3.0, 2.0, 0.5]], requires_grad=True)
    >>> y = srste(w, NM(2, 4), decay=0.5)
    >>> y.sum().backward()
    >>> y.tolist(), w.grad.tolist()
    ([[0.0, -3.0, 2.0, 0.0]], [[1.125, 1.0, 1.0, 1.25]])
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight: expected a torch.Tensor, got {type(weight).__name__}")
    mask = torch.from_numpy(nm.mask(weight.detach().cpu().numpy())).to(weight.device)
    return _SRSTE.apply(weight, mask, float(decay))


class SRSTELinear(torch.nn.Linear):
    """nn.Linear whose weight is N:M sparse in the forward pass, trained with SR-STE."""

    def __init__(self, in_features: int, out_features: int, nm: NM, bias: bool = True,
                 decay: float = 2e-4):
        super().__init__(in_features, out_features, bias=bias)
        self.nm, self.decay = nm, decay

    def forward(self, x):
        return torch.nn.functional.linear(x, srste(self.weight, self.nm, self.decay), self.bias)
