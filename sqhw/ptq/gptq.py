"""GPTQ (Frantar et al., ICLR 2023) on any of sqhw's element grids.

Columns of W (out, K) are quantized one at a time in order; each column's rounding error,
weighted by the inverse Hessian of the layer's inputs (H = X^T X), is pushed onto the
columns not yet quantized. A pruning mask (N:M) keeps pruned weights at 0.

Scales: min-max scales (per tensor, channel or group) follow the weights as GPTQ updates
them, as Brevitas's GPTQ does (its weight quantizer takes the scale from the current
weights): each column rounds with the scale of the matrix as it stands (quantized columns
and the updated rest), and the result is quantized once more with the scales of its final
values. The error pushed onto later columns can grow them past the original range, which a
scale fixed up front would clip. Block scales (MX / NVFP4) and MSE / percentile scales are
fixed from the original weights first, so their columns round onto a fixed grid.
"""

from __future__ import annotations

import numpy as np
import torch

from .config import QuantSpec
from .quantizer import QTensor, divide, encode, expand, group_of, quantize_weight, scale_for

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
    running = grid.block is None and spec.calibration == "minmax"
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
            s = _running_scale(Q, W1, W, start, i, stop, spec) if running else S[:, start + i]
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
    if running:
        return quantize_weight(values, spec)
    codes = encode(divide(values, scale), fmt, rounding)  # exact: every value lies on the grid
    block = None
    if grid.block is not None:
        block = type(grid.block)(codes, grid.block.scales, grid.block.tensor_scale)
    return QTensor(codes, fmt, grid.scale, grid.group, block, grid.block_fmt)


def _running_scale(Q, W1, W, start: int, i: int, stop: int, spec: QuantSpec) -> torch.Tensor:
    """Column start + i's scale (out,) from the matrix as it stands: the columns quantized
    so far, this block's updated rest and the columns after the block."""
    current = torch.cat([Q[:, :start + i], W1[:, i:], W[:, stop:]], dim=1).numpy()
    scale = scale_for(current, spec)  # (out | 1, groups)
    column = scale[:, (start + i) // group_of(spec, current.shape[1])]
    return torch.from_numpy(np.array(np.broadcast_to(column, (current.shape[0],))))


def _masked(grid: QTensor, w, mask, spec) -> QTensor:
    return grid if mask is None else quantize_weight(np.asarray(w) * mask, spec)
