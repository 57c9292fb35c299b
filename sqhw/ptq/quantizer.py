"""Quantized tensors: element codes of a format plus scales along the reduction axis.

A 2-D tensor t (rows, K) quantizes into `QTensor(codes (rows, K), fmt, scale (rows or 1, G),
group)`: every run of `group` consecutive elements of a row shares one scale, so its value is
`fmt.decode(codes) * scale`. Per-tensor and per-channel scales are the cases G = 1; block
formats (OCP MX, NVFP4) are groups of their block size with their own scale codes, and
`QTensor.block` keeps those codes for the exact engine.

Encoding goes through the Numba kernels when numba is installed (bit-identical to
`fmt.encode`, which is the fallback).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..formats import BlockEncoded, BlockScaled
from .config import QuantSpec


class QTensor(NamedTuple):
    codes: np.ndarray        # (rows, K) element codes
    fmt: object              # the element format
    scale: np.ndarray        # (rows or 1, G) float64 scale of each group
    group: int               # elements per scale along K
    block: BlockEncoded | None = None   # block formats: the encoded form (scale codes)
    block_fmt: BlockScaled | None = None

    @property
    def k(self) -> int:
        return self.codes.shape[-1]

    def dequantize(self) -> np.ndarray:
        """The exact values (float64)."""
        values = self.fmt.decode(self.codes)
        return values * expand(self.scale, self.group, self.k)


def expand(scale: np.ndarray, group: int, k: int) -> np.ndarray:
    """(rows, G) group scales -> (rows, K), each repeated over its group."""
    return np.repeat(scale, group, axis=-1)[..., :k]


def encode(x: np.ndarray, fmt, rounding: str, saturate: bool = True):
    """fmt.encode through Numba when it is there (bit-identical), else numpy."""
    try:
        from ..baselines import numba_cpu
    except ImportError:
        return fmt.encode(x, rounding=rounding, saturate=saturate)
    return numba_cpu.encode(x, fmt, rounding=rounding, saturate=saturate)


def block_encode(x: np.ndarray, fmt: BlockScaled, rounding: str) -> BlockEncoded:
    try:
        from ..baselines import numba_cpu
    except ImportError:
        return fmt.encode(x, rounding=rounding, pad=True)
    return numba_cpu.encode(x, fmt, rounding=rounding, saturate=True, pad=True)


def divide(values: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """values / scale, 0 where the scale is 0 (an all-zero block of NVFP4 has scale 0)."""
    values, scale = np.broadcast_arrays(np.asarray(values, dtype=np.float64), scale)
    return np.divide(values, scale, out=np.zeros(values.shape), where=scale != 0)


def round_scale(scale: np.ndarray, kind: str) -> np.ndarray:
    """Scales of the chosen kind: float as is, pow2 the next power of two up (no value is
    clipped more than with the float scale), dyadic the nearest m / 2**s with a 16-bit m."""
    scale = np.asarray(scale, dtype=np.float64)
    if kind == "float":
        return scale
    mantissa, exponent = np.frexp(scale)
    if kind == "pow2":
        return np.ldexp(1.0, np.where(mantissa == 0.5, exponent - 1, exponent))
    return np.ldexp(np.round(np.ldexp(mantissa, 16)), exponent - 16)  # dyadic, 16-bit m


def grouped(t: np.ndarray, group: int) -> np.ndarray:
    """(rows, K) -> (rows, G, group), the last group padded with zeros."""
    rows, k = t.shape
    pad = -k % group
    if pad:
        t = np.concatenate([t, np.zeros((rows, pad))], axis=1)
    return t.reshape(rows, -1, group)


def group_of(spec: QuantSpec, k: int) -> int:
    if spec.block:
        return spec.fmt.block_size
    if spec.granularity in ("tensor", "channel", "token"):
        return k
    return spec.group_size


def amax_for(t: np.ndarray, spec: QuantSpec, rows_axis: bool) -> np.ndarray:
    """Clipping range per scale group of t (rows, K) under spec's calibration: (rows|1, G)."""
    group = group_of(spec, t.shape[1])
    g = np.abs(grouped(t, group))
    if not rows_axis:  # one scale for all rows (per tensor)
        g = g.transpose(1, 0, 2).reshape(1, g.shape[1], -1)
    if spec.calibration == "percentile":
        return np.percentile(g, spec.percentile, axis=-1)
    amax = g.max(axis=-1)
    if spec.calibration == "mse":
        return amax * _mse_fraction(g, amax, spec)
    return amax


def _mse_fraction(g: np.ndarray, amax: np.ndarray, spec: QuantSpec,
                  grid=np.linspace(0.3, 1.0, 36)) -> np.ndarray:
    """Per group, the fraction of amax whose clipping gives the least squared error."""
    best = np.full(amax.shape, np.inf)
    choice = np.ones(amax.shape)
    fmt = spec.fmt
    for fraction in grid:
        scale = _scale_from_amax(amax * fraction, spec)
        q = fmt.decode(encode(g / scale[..., None], fmt, spec.rounding)) * scale[..., None]
        err = ((q - g) ** 2).sum(axis=-1)
        better = err < best
        best = np.where(better, err, best)
        choice = np.where(better, fraction, choice)
    return choice


def _scale_from_amax(amax: np.ndarray, spec: QuantSpec) -> np.ndarray:
    scale = np.where(amax > 0, amax / spec.amax_value, 1.0)
    return round_scale(scale, spec.scale)


def quantize_weight(w: np.ndarray, spec: QuantSpec, amax: np.ndarray | None = None) -> QTensor:
    """Quantize a weight matrix (out, K) under spec (scales per tensor, channel or group)."""
    w = np.asarray(w, dtype=np.float64)
    if spec.block:
        return quantize_blocks(w, spec)
    if amax is None:
        amax = amax_for(w, spec, rows_axis=spec.granularity != "tensor")
    return quantize_with_amax(w, spec, amax)


def quantize_with_amax(t: np.ndarray, spec: QuantSpec, amax: np.ndarray) -> QTensor:
    group = group_of(spec, t.shape[1])
    scale = _scale_from_amax(np.asarray(amax, dtype=np.float64), spec)
    codes = encode(t / expand(scale, group, t.shape[1]), spec.fmt, spec.rounding)
    return QTensor(codes, spec.fmt, scale, group)


def quantize_blocks(t: np.ndarray, spec: QuantSpec) -> QTensor:
    """Block formats along K: the format's own scale per block (padding K with zeros)."""
    fmt = spec.fmt
    enc = block_encode(t, fmt, spec.rounding)
    scales = fmt.scale_format.decode(np.asarray(enc.scales)) * enc.tensor_scale
    k = t.shape[1]
    return QTensor(np.asarray(enc.elements)[:, :k], fmt.element, scales, fmt.block_size,
                   enc, fmt)


def quantize_act(x: np.ndarray, spec: QuantSpec, amax: float | None) -> QTensor:
    """Activations (rows, K): per tensor with the calibrated amax, per row (token) from the
    row itself, or per block of K."""
    if spec.block:
        return quantize_blocks(x, spec)
    if spec.granularity == "token":
        x = np.asarray(x, dtype=np.float64)
        return quantize_with_amax(x, spec, amax_for(x, spec, rows_axis=True))
    if amax is None or not math.isfinite(amax):
        raise ValueError(f"act: no calibrated range for {spec.fmt.name} activations")
    return quantize_with_amax(x, spec, np.array([[amax]]))


def calibrate_amax(samples: np.ndarray, spec: QuantSpec) -> float:
    """One activation range from calibration samples (a flat array of values)."""
    samples = np.asarray(samples, dtype=np.float64).reshape(1, -1)
    if not np.isfinite(samples).all():
        raise ValueError("calibration data contains NaN or Inf")
    return float(amax_for(samples, spec, rows_axis=False)[0, 0])  # act specs are per tensor
