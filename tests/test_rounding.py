"""Rounding modes and overflow rules: tables of (value, expected, why), plus cross-checks."""

import numpy as np
import pytest

from sqhw.formats import ROUNDING_MODES, Fixed, parse
from sqhw.formats.rounding import round_shift, round_to_integer

E4M3FN = parse("float8_e4m3fn")
E5M2 = parse("float8_e5m2")
E2M1 = parse("float4_e2m1fn")
E8M0 = parse("float8_e8m0fnu")
FNUZ = parse("float8_e4m3fnuz")
NAN = "nan"

# (format, x, rounding, saturate, expected value, why)
TABLE = [
    (E2M1, 2.5, "rne", False, 2.0, "tie between 2 (mantissa 0) and 3 (mantissa 1): even"),
    (E2M1, 3.5, "rne", False, 4.0, "tie between 3 and 4: 4 has the even mantissa"),
    (E2M1, 2.5, "rna", False, 3.0, "tie: away from zero"),
    (E2M1, -2.5, "rna", False, -3.0, "tie: away from zero, negative side"),
    (E2M1, 2.9, "rtz", False, 2.0, "toward zero"),
    (E2M1, -2.9, "rtz", False, -2.0, "toward zero, negative side"),
    (E2M1, -2.1, "floor", False, -3.0, "floor goes down on the negative side"),
    (E2M1, 2.1, "ceil", False, 3.0, "ceil goes up"),
    (E2M1, -2.9, "ceil", False, -2.0, "ceil goes toward zero on the negative side"),
    (E2M1, 0.25, "rne", False, 0.0, "tie between 0 and the subnormal 0.5: 0 is even"),
    (E2M1, 0.75, "rne", False, 1.0, "tie between 0.5 (odd) and 1.0 (even)"),
    (E2M1, 100.0, "rne", False, 6.0, "no Inf/NaN: e2m1fn always saturates"),
    (E2M1, -np.inf, "rne", False, -6.0, "no Inf/NaN: -Inf saturates"),
    (E4M3FN, 464.0, "rne", False, 448.0, "midpoint of 448 and (virtual) 480: 448 is even"),
    (E4M3FN, 464.0001, "rne", False, NAN, "above the midpoint: overflow, e4m3fn has only NaN"),
    (E4M3FN, 500.0, "rne", True, 448.0, "saturate clamps"),
    (E4M3FN, 500.0, "rtz", False, 448.0, "IEEE 7.4: rounding toward zero never overflows"),
    (E4M3FN, -500.0, "floor", False, NAN, "floor of a negative overflow rounds away: NaN"),
    (E4M3FN, -500.0, "ceil", False, -448.0, "ceil of a negative overflow: -max"),
    (E4M3FN, np.inf, "rne", False, NAN, "e4m3fn has no Inf"),
    (E4M3FN, np.inf, "rne", True, 448.0, "saturate clamps Inf too"),
    (E4M3FN, 2.0**-10, "rne", False, 0.0, "half the smallest subnormal ties to zero"),
    (E4M3FN, 3 * 2.0**-10, "rne", False, 2.0**-8, "tie between 2^-9 (odd) and 2^-8 (even)"),
    (E5M2, 61440.0, "rne", False, np.inf, "midpoint of 57344 and 65536: rounds to even = Inf"),
    (E5M2, 61439.0, "rne", False, 57344.0, "just below the midpoint"),
    (E5M2, -1e6, "rne", False, -np.inf, "overflow to -Inf"),
    (E5M2, 1e6, "rtz", False, 57344.0, "rtz never overflows"),
    (E5M2, -np.inf, "rtz", False, -np.inf, "Inf is not overflow: it stays Inf"),
    (FNUZ, -0.0, "rne", False, 0.0, "fnuz has no negative zero"),
    (FNUZ, -1e-9, "rne", False, 0.0, "underflow to +0, not to the NaN code"),
    (E8M0, 3.0, "rne", False, 4.0, "no mantissa bits: every significand is 1 (odd), ties go up"),
    (E8M0, 1.25 * 2.0**-127, "rne", False, 2.0**-127, "nearest (ml_dtypes rounds this up)"),
    (E8M0, 1e-45, "rne", False, 2.0**-127, "no zero: tiny values go to the smallest value"),
    (E8M0, 0.0, "rne", False, NAN, "no zero: zero has no code"),
    (E8M0, 0.0, "rne", True, 2.0**-127, "saturating: the smallest value"),
    (E8M0, -1.0, "rne", False, NAN, "unsigned: negatives have no code"),
    (E8M0, 2.0**128, "rne", False, NAN, "above max 2^127"),
    (Fixed(4, 0), 8.0, "rne", False, -8.0, "int4 wraps: 8 -> -8"),
    (Fixed(4, 0), 8.0, "rne", True, 7.0, "int4 saturates"),
    (Fixed(4, 0), -9.0, "rne", False, 7.0, "int4 wraps: -9 -> 7"),
    (Fixed(4, 0), 2.5, "rne", False, 2.0, "ties to even"),
    (Fixed(4, 0), -2.5, "rna", False, -3.0, "ties away"),
    (Fixed(4, 0, signed=False), -1.0, "rne", True, 0.0, "uint4 saturates at 0"),
    (Fixed(4, 0, signed=False), -1.0, "rne", False, 15.0, "uint4 wraps"),
    (Fixed(2, 6), 1.0 / 128, "rne", False, 0.0, "mxint8 element: tie to even (0)"),
    (Fixed(2, 6), 3.0 / 128, "rne", False, 1.0 / 32, "mxint8 element: tie to even (2/64)"),
]


@pytest.mark.parametrize("fmt,x,rounding,saturate,expected,why", TABLE,
                         ids=[f"{r[0].name}-{r[1]}-{r[2]}-{'sat' if r[3] else 'nosat'}"
                              for r in TABLE])
def test_rounding_table(fmt, x, rounding, saturate, expected, why):
    got = fmt.decode(fmt.encode(np.array([x]), rounding=rounding, saturate=saturate))[0]
    if expected == NAN:
        assert np.isnan(got), why
    else:
        assert got == expected and np.signbit(got) == np.signbit(expected), (got, why)


def test_rounding_table_size():
    assert len(TABLE) == 46


def test_round_to_integer_and_round_shift_agree(rng):
    """The float kernel (encode) and the integer kernel (requantize) implement one rule."""
    n = rng.integers(-2**40, 2**40, 200_000)
    n[:1000] = (rng.integers(-2**20, 2**20, 1000) * 2 + 1) << 3  # exact ties at shift 4
    for mode in ROUNDING_MODES:
        for shift in (0, 1, 4, 17):
            via_int = round_shift(n, shift, mode, seed=7)
            via_float = round_to_integer(np.ldexp(n.astype(np.float64), -shift), mode, seed=7)
            if mode == "stochastic":  # different random streams: only the bracket must agree
                lo = np.floor(np.ldexp(n.astype(np.float64), -shift))
                assert ((via_int == lo) | (via_int == lo + 1)).all()
                assert ((via_float == lo) | (via_float == lo + 1)).all()
            else:
                assert (via_int == via_float).all(), (mode, shift)
    assert n.size == 200_000


def test_stochastic_is_reproducible_and_unbiased(rng):
    x = np.full(200_000, 0.3)
    a = Fixed(8, 0).encode(x, rounding="stochastic", seed=11)
    b = Fixed(8, 0).encode(x, rounding="stochastic", seed=11)
    c = Fixed(8, 0).encode(x, rounding="stochastic", seed=12)
    assert (a == b).all() and not (a == c).all()
    mean = Fixed(8, 0).decode(a).mean()
    assert abs(mean - 0.3) < 0.005  # 200k Bernoulli(0.3) draws: sd 0.001
    q = E4M3FN.quantize(np.full(100_000, 1.03), rounding="stochastic", seed=3)
    assert set(np.unique(q)) == {1.0, 1.125} and abs(q.mean() - 1.03) < 0.002
    assert a.size == 200_000


def test_round_shift_beyond_int64_uses_python_ints():
    n = np.array([2**62 + 3, -(2**62) - 1, 5])
    got = round_shift(n, np.array([63, 63, 70]), "rne")
    assert got.tolist() == [1, -1, 0]
    big = np.array([3 * 2**100 + 2**99], dtype=object)
    assert round_shift(big, 100, "rne").tolist() == [4]
    assert round_shift(big, 100, "rtz").tolist() == [3]
    assert round_shift(-big, 100, "rna").tolist() == [-4]
