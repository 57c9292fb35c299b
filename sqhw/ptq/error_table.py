"""Quantization error of every preset on real data (the formats tour of `sqhw demo`).

Element formats get a max-scaling step first (per tensor for images, per output channel for
weights: scale = amax / format.max), the usual PTQ choice; block formats scale themselves.
The figure is the signal-to-quantization-noise ratio, SQNR = 10 log10(sum x^2 / sum (x-q)^2).
"""

from __future__ import annotations

import math
import sys

import numpy as np

from ..formats import BlockScaled, Minifloat, presets


def sqnr_db(x: np.ndarray, q: np.ndarray) -> float:
    noise = float(np.sum((x - q) ** 2))
    signal = float(np.sum(x ** 2))
    return math.inf if noise == 0 else 10 * math.log10(signal / noise)


def quantize_scaled(x: np.ndarray, fmt, axis: int | None) -> np.ndarray | None:
    """Dequantized x after max scaling into fmt; None where fmt cannot hold x's signs."""
    if isinstance(fmt, BlockScaled):
        return fmt.quantize(x, pad=True)
    if not fmt.signed and (x < 0).any():
        return None
    if isinstance(fmt, Minifloat) and not fmt.has_zero:
        return None  # scale-only formats (E8M0) hold no data
    amax = np.abs(x).max(axis=axis, keepdims=axis is not None)
    scale = np.where(amax > 0, amax / fmt.max, 1.0)
    return fmt.quantize(x / scale, saturate=True) * scale


def error_table(datasets: dict[str, tuple[np.ndarray, int | None]], formats=None,
                progress=True) -> list[dict]:
    """Rows {format, bits_per_element, <dataset>: SQNR dB or None} for every format."""
    formats = presets() if formats is None else formats
    rows = []
    for i, fmt in enumerate(formats):
        if progress:
            print(f"\r[{i + 1}/{len(formats)}] {fmt.name:<24}", end="", file=sys.stderr,
                  flush=True)
        bits = getattr(fmt, "bits_per_element", fmt.bits)
        row = {"format": fmt.name, "bits_per_element": bits}
        for name, (x, axis) in datasets.items():
            q = quantize_scaled(x, fmt, axis)
            row[name] = None if q is None else round(sqnr_db(x, q), 2)
        rows.append(row)
    if progress:
        print("\r" + " " * 40 + "\r", end="", file=sys.stderr, flush=True)
    return rows


def real_datasets() -> dict[str, tuple[np.ndarray, int | None]]:
    """digits images (per-tensor scaling) and MiniLM layer-0 weights (per-row scaling)."""
    from .data import digits_images, minilm_linear_weights

    weights = minilm_linear_weights(0)
    stacked = np.concatenate([w.reshape(-1, 384) for w in weights.values()]).astype(np.float64)
    return {"digits": (digits_images(), None), "minilm_l0_weights": (stacked, 1)}
