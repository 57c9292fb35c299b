"""GPTQ (Frantar et al., ICLR 2023) on any of sqhw's element grids.

Columns of W (out, K) are quantized one at a time in order; each column's rounding error,
weighted by the inverse Hessian of the layer's inputs (H = X^T X), is pushed onto the
columns not yet quantized. A pruning mask (N:M) keeps pruned weights at 0.

Scales are fixed from the original weights before the first column (every calibration:
min-max, percentile, MSE; block scales of MX / NVFP4 too), and every column rounds onto that
grid; a value the updates push past the range saturates, and its clipping error is part of
the error pushed onto the later columns. That is the GPTQ paper's reference and Brevitas's
as its PTQ example sets it up (ptq_common.quantize_model gives the weight quantizers
ParameterFromStatsFromParameterScaling: the scale is taken from the weights at the first
forward pass and kept while GPTQ rewrites them; checked on Brevitas 0.13.4, where after GPTQ
every scale is the original absmax over the code range, and in tests/test_ptq.py).
"""

from __future__ import annotations

import numpy as np
import torch

from .config import QuantSpec
from .quantizer import QTensor, divide, encode, expand, quantize_weight

BLOCK = 128


def gptq(w: np.ndarray, hessian: np.ndarray, spec: QuantSpec, mask: np.ndarray | None = None,
         damp: float = 0.01) -> QTensor:
    """Quantize w (out, K) given H (K, K) of its inputs; returns the QTensor of the result."""
    grid = quantize_weight(w, spec)  # fixes the scales (and block scale codes) from w
    scale = expand(grid.scale, grid.group, grid.k)
    if scale.shape[0] == 1:
        scale = np.broadcast_to(scale, w.shape)
    fmt, rounding = grid.fmt, spec.rounding  # the element format (block formats: their elements)
    W = torch.from_numpy(np.array(w, dtype=np.float64))
    if mask is not None:
        W *= torch.from_numpy(mask)
    H = torch.from_numpy(np.array(hessian, dtype=np.float64))
    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H += damp * torch.mean(torch.diag(H)) * torch.eye(H.shape[0], dtype=H.dtype)
    try:
        hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)),
                                     upper=True)
    except torch.linalg.LinAlgError:
        return _masked(grid, w, mask, spec)
    S = torch.from_numpy(np.ascontiguousarray(scale))
    keep = None if mask is None else torch.from_numpy(mask)
    Q = torch.zeros_like(W)
    k = W.shape[1]
    for start in range(0, k, BLOCK):
        stop = min(start + BLOCK, k)
        W1 = W[:, start:stop].clone()
        E1 = torch.zeros_like(W1)
        Hinv1 = hinv[start:stop, start:stop]
        for i in range(stop - start):
            col = W1[:, i]
            s = S[:, start + i]
            codes = encode(divide(col.numpy(), s.numpy()), fmt, rounding)
            q = torch.from_numpy(fmt.decode(codes)) * s
            if keep is not None:
                q = q * keep[:, start + i]
            Q[:, start + i] = q
            err = (col - q) / Hinv1[i, i]
            W1[:, i:] -= err[:, None] * Hinv1[i, i:][None, :]
            E1[:, i] = err
        W[:, stop:] -= E1 @ hinv[start:stop, stop:]
    values = Q.numpy()
    codes = encode(divide(values, scale), fmt, rounding)  # exact: every value lies on the grid
    block = None
    if grid.block is not None:
        block = type(grid.block)(codes, grid.block.scales, grid.block.tensor_scale)
    return QTensor(codes, fmt, grid.scale, grid.group, block, grid.block_fmt)


def _masked(grid: QTensor, w, mask, spec) -> QTensor:
    return grid if mask is None else quantize_weight(np.asarray(w) * mask, spec)
