"""What every element format offers: exact decode, encode with a rounding mode, quantize."""

from __future__ import annotations

import functools

import numpy as np

from ._arrays import as_codes, as_float64, code_dtype
from .rounding import check_mode


class ElementFormat:
    """Base of Fixed and Minifloat: a code of `bits` bits maps to one exact value.

    Subclasses define `bits`, `name`, `signed`, `has_nan`, `has_inf`, `_values()` (the
    value of every code, float64, exact) and `_encode(x, rounding, saturate, seed)`.
    """

    bits: int
    name: str
    signed: bool
    has_nan: bool
    has_inf: bool

    # -- derived tables ------------------------------------------------------------------
    @functools.cached_property
    def table(self) -> np.ndarray:
        """float64 value of every code 0 .. 2**bits - 1 (read-only)."""
        values = self._values()
        values.setflags(write=False)
        return values

    @functools.cached_property
    def _finite_values(self) -> np.ndarray:
        t = self.table
        return t[np.isfinite(t)]

    @property
    def max(self) -> float:
        return float(self._finite_values.max())

    @property
    def min_subnormal(self) -> float:
        """Smallest positive value."""
        t = self._finite_values
        return float(t[t > 0].min())

    # -- conversion ----------------------------------------------------------------------
    def encode(self, x, rounding: str = "rne", saturate: bool = False, seed: int | None = 0):
        """Round real values to codes (unsigned integers). numpy in numpy out; torch in torch out.

        >>> from sqhw.formats import parse
        >>> parse("float8_e4m3fn").encode([1.0, 500.0], saturate=True).tolist()
        [56, 126]
        """
        check_mode(rounding)
        arr, restore = as_float64(x)
        codes = self._encode(arr, rounding, bool(saturate), seed)
        return restore(codes.astype(code_dtype(self.bits)))

    def decode(self, codes):
        """Exact value of each code (float64 for numpy, float64 tensor for torch)."""
        arr, restore = as_codes(codes, self.bits)
        return restore(self.table[arr])

    def quantize(self, x, rounding: str = "rne", saturate: bool = False, seed: int | None = 0):
        """decode(encode(x)): the nearest representable values under the rounding mode."""
        return self.decode(self.encode(x, rounding=rounding, saturate=saturate, seed=seed))

    def _refuse_nan(self, x: np.ndarray) -> None:
        if not self.has_nan and np.isnan(x).any():
            raise ValueError(f"x contains NaN at {int(np.isnan(x).sum())} positions "
                             f"but {self.name} has no NaN encoding")

    def __str__(self) -> str:
        return self.name
