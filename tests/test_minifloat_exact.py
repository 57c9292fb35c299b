"""Random minifloat definitions against an encoder written here from the definition, in Fractions."""

import bisect
import functools
import itertools
from fractions import Fraction

import numpy as np
import pytest
from conftest import ML_DTYPES_NAMES, near_ties
from hypothesis import given, settings
from hypothesis import strategies as st

from sqhw.formats import DETERMINISTIC_MODES, NAMED, Minifloat


@functools.lru_cache(maxsize=64)
def spec_values(e, m, bias, nan, inf, subnormals=True):
    """{magnitude_code: Fraction} of every finite non-negative value, from the definition."""
    out = {}
    for code in range(1 << (e + m)):
        ef, mf = code >> m, code & ((1 << m) - 1)
        if nan == "ieee" and ef == (1 << e) - 1:
            continue
        if nan == "outer" and code == (1 << (e + m)) - 1:
            continue
        if ef == 0 and subnormals:
            out[code] = Fraction(mf, 1 << m) * Fraction(2) ** (1 - bias)
        else:
            out[code] = (1 + Fraction(mf, 1 << m)) * Fraction(2) ** (ef - bias)
    return out


@functools.lru_cache(maxsize=64)
def _ladder(e, m, bias, nan, inf):
    values = spec_values(e, m, bias, nan, inf)
    codes = sorted(values, key=values.get)
    top = codes[-1]
    ulp = values[top] - values[codes[-2]] if len(codes) > 1 else values[top]
    # the value past max that an unbounded exponent would have (for tie parity: code top+1)
    past = 2 * values[top] if m == 0 else values[top] + ulp
    ladder = [(values[c], c) for c in codes] + [(past, top + 1)]
    return ladder, [v for v, _ in ladder], top, past


def spec_encode(x: float, e, m, bias, nan, inf, rounding, saturate):
    """Expected code (magnitude code, negative?) or 'nan' / 'inf' for one finite x."""
    ladder, keys, top, past = _ladder(e, m, bias, nan, inf)
    a, negative = abs(Fraction(x)), x < 0 or (x == 0 and np.signbit(x))
    lo = ladder[bisect.bisect_right(keys, a) - 1]  # the largest value <= a (0 is in the ladder)
    above = bisect.bisect_left(keys, a)
    hi = ladder[above] if above < len(ladder) else (past, top + 1)
    if lo[0] == a:
        pick = lo
    else:
        down_is_toward_zero = {"rtz": True, "floor": not negative, "ceil": negative}
        if rounding in down_is_toward_zero:
            pick = lo if down_is_toward_zero[rounding] else hi
        else:
            d_lo, d_hi = a - lo[0], hi[0] - a
            if d_lo != d_hi:
                pick = lo if d_lo < d_hi else hi
            elif rounding == "rna":
                pick = hi
            else:  # ties to the even significand; with m == 0 both are 1 (odd): go up
                significand = lambda c: c & ((1 << m) - 1) if m else int(c != 0)
                pick = lo if significand(lo[1]) % 2 == 0 else hi
    if pick[1] > top:  # overflow
        toward_zero = rounding == "rtz" or (rounding == "floor" and not negative) or (
            rounding == "ceil" and negative)
        if saturate or toward_zero or nan is None:
            return top, negative
        return ("inf" if inf else "nan"), negative
    return pick[1], negative and not (pick[1] == 0 and nan == "negzero")


formats = st.tuples(st.integers(2, 5), st.integers(0, 4)).flatmap(
    lambda em: st.tuples(st.just(em[0]), st.just(em[1]),
                         st.integers(-3, 2 ** em[0] + 2),
                         st.sampled_from([None, "outer", "negzero"] +
                                         (["ieee"] if em[1] >= 1 else []))))


@settings(max_examples=250, deadline=None)
@given(fmt=formats, rounding=st.sampled_from(DETERMINISTIC_MODES),
       saturate=st.booleans(),
       xs=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64,
                             min_value=-1e6, max_value=1e6), min_size=1, max_size=30))
def test_random_formats_match_exact_fractions(fmt, rounding, saturate, xs):
    e, m, bias, nan = fmt
    inf = nan == "ieee"
    f = Minifloat(e, m, bias=bias, nan=nan, inf=inf)
    # put in every value, every exact midpoint and their float64 neighbours, both signs: they
    # are where rounding modes differ (the values come from the definition, not from f)
    values = [float(v) for v in spec_values(e, m, bias, nan, inf).values()]
    drawn = len(xs)
    checked = _check_against_spec(f, np.concatenate([np.array(xs, dtype=np.float64),
                                                     near_ties(values)]), rounding, saturate)
    assert checked == drawn + 6 * (2 * len(values) - 1)  # values and midpoints, x3, both signs


def _check_against_spec(f: Minifloat, xs: np.ndarray, rounding: str, saturate: bool) -> int:
    """Compare f.encode(xs) with spec_encode value by value; return how many were checked."""
    codes = f.encode(xs, rounding=rounding, saturate=saturate).astype(np.int64)
    sign_bit = 1 << (f.exp_bits + f.man_bits)
    checked = 0
    for x, code in zip(xs, codes, strict=True):
        want, negative = spec_encode(x, f.exp_bits, f.man_bits, f.bias, f.nan, f.inf, rounding,
                                     saturate)
        if want == "nan":
            assert np.isnan(f.table[code]), (x, code)
        elif want == "inf":
            assert f.table[code] == (-np.inf if negative else np.inf), (x, code)
        else:
            assert code == want | (sign_bit if negative else 0), (f, x, rounding, code, want)
        checked += 1
    return checked


# finite non-negative values (zero included) of each signed preset, counted from its layout
PRESET_MAGNITUDES = {"float8_e4m3fn": 127, "float8_e5m2": 124, "float8_e4m3fnuz": 128,
                     "float8_e5m2fnuz": 128, "float8_e4m3": 120, "float8_e3m4": 112,
                     "float6_e2m3fn": 32, "float6_e3m2fn": 32, "float4_e2m1fn": 8}


@pytest.mark.parametrize("name", [n for n in ML_DTYPES_NAMES if NAMED[n].signed])
def test_presets_near_every_tie_both_signs(name):
    """Issue 11: rna sent negative float64 inputs just short of -(half a step) away from zero.
    Every deterministic mode at and beside every tie, both signs, against the spec."""
    f = NAMED[name]
    xs = near_ties(f.table)
    checked = 0
    for rounding, saturate in itertools.product(DETERMINISTIC_MODES, (False, True)):
        checked += _check_against_spec(f, xs, rounding, saturate)
    assert checked == 10 * 6 * (2 * PRESET_MAGNITUDES[name] - 1)
