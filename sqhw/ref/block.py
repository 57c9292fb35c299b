"""Exact block-scaled dot products (OCP MX, NVFP4).

A block dot product is the exact element dot product times the product of the two block
scales (and of the two tensor scales for NVFP4); summing blocks stays exact in Python ints.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..formats import BlockEncoded, BlockScaled
from .exact import dot, to_ints


class Exact(NamedTuple):
    """Exact values ints * 2**-frac_bits (ints: int64 or Python-int object array)."""

    ints: np.ndarray
    frac_bits: int

    def to_float(self) -> np.ndarray:
        """Nearest float64 of each value (the only rounding step, for display)."""
        from fractions import Fraction

        return np.array([float(Fraction(int(n), 1 << self.frac_bits)) if self.frac_bits >= 0
                         else float(int(n) << -self.frac_bits) for n in np.ravel(self.ints)],
                        dtype=np.float64).reshape(np.shape(self.ints))


def _float_as_int(value: float) -> tuple[int, int]:
    """(n, f) with value == n * 2**-f exactly."""
    mantissa, exponent = math.frexp(value)
    return int(mantissa * 2**53), 53 - exponent


def block_dot(a: BlockEncoded, a_fmt: BlockScaled, b: BlockEncoded, b_fmt: BlockScaled) -> Exact:
    """Exact dot products along the last axis of two block-encoded tensors of equal length."""
    for arg, fmt in (("a_fmt", a_fmt), ("b_fmt", b_fmt)):
        if not isinstance(fmt, BlockScaled):
            raise TypeError(f"{arg}: expected a BlockScaled format, got {fmt!r}")
    if a_fmt.block_size != b_fmt.block_size:
        raise ValueError(f"block sizes differ: {a_fmt.name} has {a_fmt.block_size}, "
                         f"{b_fmt.name} has {b_fmt.block_size}")
    a_el, b_el = np.asarray(a.elements), np.asarray(b.elements)
    if a_el.shape[-1] != b_el.shape[-1]:
        raise ValueError(f"block_dot: last axes differ: {a_el.shape} and {b_el.shape}")
    size = a_fmt.block_size
    blocks_a = a_el.reshape(a_el.shape[:-1] + (-1, size))
    blocks_b = b_el.reshape(b_el.shape[:-1] + (-1, size))
    element_dots = dot(blocks_a, a_fmt.element, blocks_b, b_fmt.element).astype(object)
    scale_a = to_ints(np.asarray(a.scales), a_fmt.scale_format, "a.scales").astype(object)
    scale_b = to_ints(np.asarray(b.scales), b_fmt.scale_format, "b.scales").astype(object)
    total = (element_dots * scale_a * scale_b).sum(axis=-1)
    tensor_a, frac_ta = _float_as_int(a.tensor_scale)
    tensor_b, frac_tb = _float_as_int(b.tensor_scale)
    frac = (a_fmt.element.exact_fixed.frac_bits + b_fmt.element.exact_fixed.frac_bits
            + a_fmt.scale_format.exact_fixed.frac_bits + b_fmt.scale_format.exact_fixed.frac_bits
            + frac_ta + frac_tb)
    return Exact(np.asarray(total * (tensor_a * tensor_b), dtype=object), frac)
