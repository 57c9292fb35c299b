"""Exact matmul on packed N:M weights: equal to the dense matmul of the masked weights."""

from __future__ import annotations

import numpy as np

from .exact import _operands


def sparse_matmul(packed, x_codes, x_fmt) -> np.ndarray:
    """Exact w @ x for packed w (M rows of K) and x (K, N); integers in units of
    2**-product_format(w_fmt, x_fmt).frac_bits, like sqhw.ref.matmul."""
    values, indices, k, nm, w_fmt = packed
    x_shape = np.shape(x_codes)
    if values.ndim != 3 or len(x_shape) != 2 or x_shape[0] != k:
        raise ValueError(f"sparse_matmul: expected packed w of {k} columns in (M, G, n) "
                         f"groups and x of shape ({k}, N), got values {values.shape} "
                         f"and x {x_shape}")
    w_int, x_int = _operands(values, w_fmt, x_codes, x_fmt, k)
    rows, groups, n = values.shape
    columns = (np.arange(groups)[:, None] * nm.m + indices.astype(np.int64))  # (M, G, n)
    past = columns >= k
    if (past & (w_int != 0)).any():
        raise ValueError(f"packed weights: a non-zero value's index points past K={k}")
    columns = np.where(past, 0, columns)  # zero fillers of a short last group
    acc = np.zeros((rows, x_shape[1]), dtype=w_int.dtype)
    w_flat, col_flat = w_int.reshape(rows, -1), columns.reshape(rows, -1)
    for t in range(groups * n):  # one slot of every row at a time: an (M, N) update
        acc += w_flat[:, t:t + 1] * x_int[col_flat[:, t], :]
    return acc
