"""Rounding modes, shared by every format and by the exact requantizer.

Two kernels, one set of rules:
- `round_to_integer(y, mode)` rounds exact float64 values (inputs to `encode`);
- `round_shift(n, shift, mode)` rounds exact integers divided by 2**shift (accumulators).

`Rounding` is the one definition of the modes and of their order: the Numba and Triton
kernels number them with `int(Rounding.X)` and the hardware generators name them through
it. The public API takes their names (`ROUNDING_MODES`).
"""

from __future__ import annotations

import enum

import numpy as np


class Rounding(enum.IntEnum):
    """A rounding mode; its value is its number in every kernel (Numba, Triton).

    >>> Rounding.of("floor"), int(Rounding.FLOOR), Rounding.FLOOR.label
    (<Rounding.FLOOR: 3>, 3, 'floor')
    """

    RNE = 0         # to nearest, ties to even
    RTZ = 1         # toward zero
    RNA = 2         # to nearest, ties away from zero
    FLOOR = 3       # toward -inf
    CEIL = 4        # toward +inf
    STOCHASTIC = 5  # up with probability equal to the discarded fraction (seeded)

    @property
    def label(self) -> str:
        """The mode's name in the API: encode(x, rounding=label)."""
        return self.name.lower()

    @classmethod
    def of(cls, mode: str) -> Rounding:
        """The member named `mode` ("rne", ...); anything else is refused naming the choices."""
        return cls[check_mode(mode).upper()]


ROUNDING_MODES = tuple(mode.label for mode in Rounding)
DETERMINISTIC_MODES = tuple(mode.label for mode in Rounding if mode is not Rounding.STOCHASTIC)


def check_mode(mode: str) -> str:
    if not isinstance(mode, str) or mode not in ROUNDING_MODES:
        raise ValueError(f"rounding: expected one of {', '.join(ROUNDING_MODES)}, got {mode!r}")
    return mode


def rounds_toward_zero(mode: str, negative):
    """Where the mode never increases magnitude (IEEE 754 7.4: such overflow gives +-max)."""
    mode = Rounding.of(mode)
    if mode is Rounding.RTZ:
        return np.ones_like(negative, dtype=bool)
    if mode is Rounding.FLOOR:
        return ~negative
    if mode is Rounding.CEIL:
        return negative.copy()
    return np.zeros_like(negative, dtype=bool)


def round_to_integer(y: np.ndarray, mode: str, seed: int | None = 0) -> np.ndarray:
    """Round exact float64 values to integers (returned as float64, still exact).

    Every decision compares y with exact values: y - floor(y) is not exact for y in (-1, 0)
    (-0.49999999999999994 + 1 rounds to 0.5), but floor(y) + 0.5 is wherever y is not an
    integer (|y| < 2**52 there), and the uniforms of stochastic rounding are multiples of
    2**-53, so u - 1 is exact.

    >>> round_to_integer(np.array([-0.49999999999999994, -0.5, 2.5, -2.5]), "rna").tolist()
    [0.0, -1.0, 3.0, -3.0]
    """
    mode = Rounding.of(mode)
    if mode is Rounding.FLOOR:
        return np.floor(y)
    if mode is Rounding.CEIL:
        return np.ceil(y)
    if mode is Rounding.RTZ:
        return np.trunc(y)
    lower = np.floor(y)
    inexact = y != lower
    if mode is Rounding.STOCHASTIC:
        u = np.random.default_rng(seed).random(y.shape)  # multiples of 2**-53 in [0, 1)
        # up with probability y - lower; that difference is exact unless lower == -1
        # (Sterbenz), where y > u - 1 says the same exactly
        with np.errstate(invalid="ignore"):  # inf - inf where y is infinite: not inexact
            up = np.where(lower == -1.0, y > u - 1.0, u < y - lower)
        return lower + (inexact & up)
    half = lower + 0.5  # exact where y is inexact
    tie = inexact & (y == half)
    if mode is Rounding.RNE:
        tie_up = np.fmod(lower, 2.0) != 0
    else:  # rna: ties away from zero
        tie_up = y > 0
    return lower + ((inexact & (y > half)) | (tie & tie_up))


def bit_length(n) -> np.ndarray:
    """Bit length of non-negative integers (int64 or Python-int object arrays)."""
    n = np.asarray(n)
    if n.dtype == object:
        return np.frompyfunc(int.bit_length, 1, 1)(n).astype(np.int64)
    _, e = np.frexp(n.astype(np.float64))
    e = e.astype(np.int64)
    # float64 may round n up to the next power of two; step back where it did
    too_big = (e > 0) & ((n >> np.maximum(e - 1, 0)) == 0)
    return e - too_big


def round_shift(n: np.ndarray, shift, mode: str, seed: int | None = 0) -> np.ndarray:
    """Exactly round n / 2**shift to an integer (n int64 or object; shift >= 0, per element).

    Works on two's-complement integers: floor division is an arithmetic right shift.
    int64 input whose shift exceeds 62 is promoted to Python ints (object arrays).
    """
    check_mode(mode)
    n = np.asarray(n)
    shift = np.broadcast_to(np.asarray(shift, dtype=np.int64), n.shape)
    if shift.size and shift.min() < 0:
        raise ValueError("round_shift: shift must be >= 0")
    if n.dtype != object and shift.size and shift.max() > 62:
        n = n.astype(object)
    if n.dtype == object:
        shift = shift.astype(object)
    one = np.ones_like(n)
    lower = n >> shift
    rem = n - lower * (one << shift)  # in [0, 2**shift)
    if mode == "floor":
        return lower
    nonzero = rem != 0
    if mode == "ceil":
        up = nonzero
    elif mode == "rtz":
        up = nonzero & (n < 0)
    elif mode == "stochastic":
        up = rem > _uniform_bits(shift, seed)
    else:
        half_valid = shift > 0
        half = one << np.where(half_valid, shift - 1, 0)
        tie = half_valid & (rem == half)
        tie_up = (lower % 2 != 0) if mode == "rne" else (n > 0)
        up = (half_valid & (rem > half)) | (tie & tie_up)
    return lower + up.astype(n.dtype)


def _uniform_bits(shift: np.ndarray, seed) -> np.ndarray:
    """Uniform integers in [0, 2**shift) per element, reproducible from the seed."""
    rng = np.random.default_rng(seed)
    if shift.dtype != object:
        return rng.integers(0, np.int64(1) << shift, size=shift.shape) if shift.size else shift
    words = [int(rng.integers(0, 1 << 62)) for _ in range(shift.size)]
    # a 62-bit draw scaled to the needed width (exact for shift <= 62, fine-grained beyond)
    vals = [(w << max(s - 62, 0)) >> max(62 - s, 0) for w, s in zip(words, shift.ravel().tolist())]
    return np.array(vals, dtype=object).reshape(shift.shape)
