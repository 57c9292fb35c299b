"""BlockScaled(element, block_size, scale_format): OCP MX v1.0 and NVFP4 block formats.

Encoding runs along the last axis, one shared scale per block of `block_size` elements.

Scale rules (what sqhw computes, in this order):
- power-of-two scale (E8M0, OCP MX v1.0 section 6.3): X = 2**(floor(log2(amax)) - emax_elem),
  clamped to the scale's range; amax == 0 gives the smallest scale. Elements are x / X
  (an exact division) rounded into the element format, saturating.
- NVFP4 (E4M3 block scale, FP32 tensor scale): tensor scale s = float32(amax_tensor /
  (element.max * scale.max)); block scale code = E4M3(amax_block / (element.max * s)) (RNE,
  saturating); elements = x / (decode(scale) * s), rounded and saturated. The two divisions
  are float64 operations, and that is part of the definition.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np

from ._arrays import as_float64, is_torch
from .fixed import Fixed
from .minifloat import Minifloat
from .rounding import check_mode


class BlockEncoded(NamedTuple):
    """Codes of a block-scaled tensor: elements (..., K), scales (..., K // block_size),
    and the per-tensor scale (1.0 for MX)."""

    elements: object
    scales: object
    tensor_scale: float = 1.0


@dataclasses.dataclass(frozen=True, eq=True)
class BlockScaled:
    """Elements of one format sharing a scale per block.

    >>> import numpy as np
    >>> from sqhw.formats import parse
    >>> mx = parse("mxfp4")
    >>> enc = mx.encode(np.linspace(-1, 1, 32))
    >>> enc.scales.tolist(), float(mx.quantize(np.full(32, 0.3))[0])
    ([125], 0.25)
    >>> BlockScaled(parse("float4_e2m1fn"), 16, parse("float8_e4m3fn"), tensor_scale=True).name
    'block<float4_e2m1fn,16,float8_e4m3fn,tensor_scale>'
    """

    element: Minifloat | Fixed
    block_size: int
    scale_format: Minifloat
    tensor_scale: bool = False
    name: str | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        if not isinstance(self.element, (Minifloat, Fixed)):
            raise TypeError(f"element: expected a Minifloat or Fixed format, got {self.element!r}")
        if not isinstance(self.block_size, int) or self.block_size < 1:
            raise ValueError(f"block_size: expected a positive integer, got {self.block_size!r}")
        if not isinstance(self.scale_format, Minifloat):
            raise TypeError(f"scale_format: expected a Minifloat, got {self.scale_format!r}")
        if self.name is None:
            object.__setattr__(self, "name", self._default_name())

    def _default_name(self) -> str:
        """The name sqhw generates (sqhw.formats.parse reads it back): the parts by their
        names where those parse back to them, by their generated names otherwise."""
        parts = [_spelling(self.element), str(self.block_size), _spelling(self.scale_format)]
        return f"block<{','.join(parts + ['tensor_scale'] * bool(self.tensor_scale))}>"

    @property
    def power_of_two_scale(self) -> bool:
        return self.scale_format.man_bits == 0

    @property
    def bits(self) -> int:
        """Bits per element code (the scale is shared by the block)."""
        return self.element.bits

    @property
    def bits_per_element(self) -> float:
        return self.element.bits + self.scale_format.bits / self.block_size

    @property
    def element_emax(self) -> int:
        """floor(log2(element.max)), the emax of OCP MX v1.0 table 1."""
        return math.frexp(self.element.max)[1] - 1

    @property
    def max(self) -> float:
        return self.element.max * self.scale_format.max

    @property
    def min_subnormal(self) -> float:
        return self.element.min_subnormal * self.scale_format.min_subnormal

    @property
    def min_normal(self) -> float:
        return self.element.min_normal * self.scale_format.min_normal

    @property
    def has_nan(self) -> bool:
        return False

    @property
    def has_inf(self) -> bool:
        return False

    def __str__(self) -> str:
        return self.name

    # -- conversion ----------------------------------------------------------------------
    def check_shape(self, shape: tuple, pad: bool = False, can_pad: bool = True) -> None:
        """Refuse a shape this format cannot split into blocks along its last axis (any
        length is fine with pad=True, which pads the last block with zeros; can_pad: whether
        the caller offers that, so the message suggests it)."""
        if len(shape) == 0:
            raise ValueError(f"{self.name}: x must have at least one axis, got a scalar")
        if shape[-1] % self.block_size and not pad:
            hint = "; pass pad=True to pad it with zeros" if can_pad else ""
            raise ValueError(f"{self.name}: the last axis of x has length {shape[-1]}, not a "
                             f"multiple of the block size {self.block_size}{hint}")

    def _blocks(self, x: np.ndarray, pad: bool) -> np.ndarray:
        self.check_shape(x.shape, pad)
        k = x.shape[-1]
        if k % self.block_size:
            extra = self.block_size - k % self.block_size
            x = np.concatenate([x, np.zeros(x.shape[:-1] + (extra,))], axis=-1)
        bad = ~np.isfinite(x)
        if bad.any():
            raise ValueError(f"{self.name}: x contains {int(bad.sum())} NaN/Inf values; "
                             "block scales are defined for finite inputs only")
        return x.reshape(x.shape[:-1] + (x.shape[-1] // self.block_size, self.block_size))

    def scales(self, amax: np.ndarray, tensor_amax: float):
        """(scale codes, divisors, tensor scale) from per-block and whole-tensor amax.

        The divisor of a block is the value its elements are divided by before rounding;
        shared with sqhw.baselines so every path computes the same scales."""
        scale_fmt = self.scale_format
        if self.power_of_two_scale:
            _, e = np.frexp(amax)
            exponent = np.where(amax > 0, e.astype(np.int64) - 1 - self.element_emax,
                                scale_fmt.emin)
            exponent = np.clip(exponent, scale_fmt.emin, scale_fmt.emax)
            return scale_fmt.encode(np.ldexp(1.0, exponent)), np.ldexp(1.0, exponent), 1.0
        tensor_scale = 1.0
        if self.tensor_scale and tensor_amax:
            tensor_scale = float(np.float32(tensor_amax / (self.element.max * scale_fmt.max)))
        codes = scale_fmt.encode(amax / (self.element.max * tensor_scale), rounding="rne",
                                 saturate=True)
        return codes, scale_fmt.decode(codes) * tensor_scale, tensor_scale

    def encode(self, x, rounding: str = "rne", saturate: bool = True, pad: bool = False,
               seed: int | None = 0) -> BlockEncoded:
        """Encode along the last axis. Returns BlockEncoded(elements, scales, tensor_scale)."""
        check_mode(rounding)
        arr, restore = as_float64(x)
        blocks = self._blocks(arr, pad)
        amax = np.abs(blocks).max(axis=-1)
        scale_codes, scale_values, tensor_scale = self.scales(
            amax, float(amax.max()) if amax.size else 0.0)
        divisor = scale_values[..., None]
        safe = np.divide(blocks, divisor, out=np.zeros_like(blocks), where=divisor != 0)
        elements = self.element.encode(safe, rounding=rounding, saturate=saturate, seed=seed)
        elements = elements.reshape(blocks.shape[:-2] + (-1,))
        return BlockEncoded(restore(elements), restore(np.asarray(scale_codes)), tensor_scale)

    def decode(self, encoded: BlockEncoded):
        """Exact values (float64) of encoded elements, shape (..., K)."""
        elements, scales, tensor_scale = encoded
        torch_out = is_torch(elements)
        element_values = np.asarray(self.element.decode(
            elements.cpu().numpy() if torch_out else elements))
        scale_values = np.asarray(self.scale_format.decode(scales.cpu().numpy() if torch_out
                                                           else scales))
        k = element_values.shape[-1]
        if k != scale_values.shape[-1] * self.block_size:
            raise ValueError(f"{self.name}: {k} elements do not match {scale_values.shape[-1]} "
                             f"scales of block {self.block_size}")
        blocks = element_values.reshape(element_values.shape[:-1] + (-1, self.block_size))
        values = (blocks * (scale_values * tensor_scale)[..., None]).reshape(element_values.shape)
        if torch_out:
            import torch

            return torch.from_numpy(values)
        return values

    def quantize(self, x, rounding: str = "rne", saturate: bool = True, pad: bool = False,
                 seed: int | None = 0):
        """Dequantized values of x (padding, if any, cut off again)."""
        values = self.decode(self.encode(x, rounding=rounding, saturate=saturate, pad=pad,
                                         seed=seed))
        k = np.shape(x)[-1]
        return values[..., :k]


def _spelling(fmt) -> str:
    """fmt's name if it parses back to fmt, else the name sqhw generates for it."""
    from .presets import parse  # presets is built on this module

    try:
        if parse(fmt.name) == fmt:
            return fmt.name
    except ValueError:
        pass
    return fmt._default_name()
