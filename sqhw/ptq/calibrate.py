"""One pass of calibration data through the FP32 model, collecting per layer what the
quantizers and algorithms need: activation range and samples, per-channel maxima
(SmoothQuant) and X^T X (GPTQ).

Percentile calibration follows Brevitas's rule, so that the two are compared with the same
algorithm: each calibration batch's exact q-th percentile of |x| (its k-th smallest value,
k = floor(q/100 * n + 0.5), 1-indexed, over all n values of the batch), averaged over the
batches.

A layer's input rows are what its weight matrix (out, K) multiplies: Linear inputs
flattened to (rows, K); Conv2d inputs as im2col patches per group (rows, groups, K).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

SAMPLES = 1 << 18  # activation values kept per layer for MSE calibration


def input_rows(module, x: torch.Tensor) -> torch.Tensor:
    """(rows, groups, K) float64 input rows of a Linear or Conv2d."""
    x = x.detach().to(torch.float64)
    if isinstance(module, torch.nn.Linear):
        return x.reshape(-1, 1, x.shape[-1])
    if isinstance(module, torch.nn.Conv1d):
        from .layers import conv1d_as_conv2d

        module, x = conv1d_as_conv2d(module), x.unsqueeze(2)
    groups = module.groups
    patches = F.unfold(x, module.kernel_size, dilation=module.dilation,
                       padding=module.padding, stride=module.stride)
    b, kk, length = patches.shape
    return patches.transpose(1, 2).reshape(b * length, groups, kk // groups)


class LayerStats:
    def __init__(self, module, want_hessian: bool, seed: int, percentile: float | None = None):
        self.module = module
        self.percentile = percentile
        self.batch_percentiles: list[float] = []
        self.want_hessian = want_hessian
        self.amax = 0.0
        self.samples: list[np.ndarray] = []
        self.rng = np.random.default_rng(seed)
        self.hessian = None    # (groups, K, K)
        self.channel_max = None  # (K_in,) max |x| per input channel (Linear: K; Conv: C)

    def add(self, x: torch.Tensor) -> None:
        if not torch.isfinite(x).all():
            raise ValueError("calibration: a layer input contains NaN or Inf")
        flat = x.detach().reshape(-1)
        self.amax = max(self.amax, float(flat.abs().max()) if flat.numel() else 0.0)
        if self.percentile is not None and flat.numel():
            self.batch_percentiles.append(batch_percentile(flat, self.percentile))
        take = min(flat.numel(), max(SAMPLES // 8, 1))
        idx = self.rng.integers(0, flat.numel(), size=take)
        self.samples.append(flat[torch.from_numpy(idx)].to(torch.float64).numpy())
        channel_axis = -1 if isinstance(self.module, torch.nn.Linear) else 1
        dims = [d for d in range(x.dim()) if d != (channel_axis % x.dim())]
        cmax = x.detach().abs().amax(dim=dims).to(torch.float64).numpy()
        self.channel_max = cmax if self.channel_max is None else np.maximum(self.channel_max,
                                                                            cmax)
        if self.want_hessian:
            for part in x.split(4):  # im2col of a few images at a time
                rows = input_rows(self.module, part)
                h = torch.einsum("rgk,rgj->gkj", rows, rows).numpy()
                self.hessian = h if self.hessian is None else self.hessian + h

    def sample_values(self) -> np.ndarray:
        values = np.concatenate(self.samples) if self.samples else np.zeros(1)
        if values.size > SAMPLES:
            values = self.rng.choice(values, SAMPLES, replace=False)
        return values

    @property
    def percentile_amax(self) -> float:
        """The mean over batches of each batch's percentile of |x| (Brevitas's rule)."""
        return float(np.mean(self.batch_percentiles))


def batch_percentile(flat: torch.Tensor, q: float) -> float:
    """The q-th percentile of |flat|: its k-th smallest value, k = floor(q/100 * n + 0.5)."""
    n = flat.numel()
    k = min(max(int(math.floor(0.01 * q * n + 0.5)), 1), n)
    return float(torch.kthvalue(flat.abs().to(torch.float64), k).values)


class _Seen(Exception):
    """Raised by collect's hook to end a forward pass whose rest nobody needs."""


def collect(model, layers: dict, batches, want_hessian: set, progress=None,
            percentiles: dict | None = None, stop_early: bool = False) -> dict:
    """Run batches through model; return {name: LayerStats} for the named modules.
    percentiles: {name: q} for the layers whose activations calibrate by percentile.
    stop_early: end each forward pass once every named module has seen its input (one
    module's statistics, without the rest of the model)."""
    percentiles = percentiles or {}
    stats = {name: LayerStats(m, name in want_hessian, seed=i, percentile=percentiles.get(name))
             for i, (name, m) in enumerate(layers.items())}
    seen = set()

    def hook(name, x):
        stats[name].add(x)
        seen.add(name)
        if stop_early and len(seen) == len(stats):
            raise _Seen

    hooks = [m.register_forward_pre_hook(lambda mod, args, name=name: hook(name, args[0]))
             for name, m in layers.items()]
    try:
        with torch.no_grad():
            for batch in batches:
                seen.clear()
                try:
                    model(*batch)
                except _Seen:
                    pass
                if progress is not None:
                    progress()
    finally:
        for h in hooks:
            h.remove()
    return stats
