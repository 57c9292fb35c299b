"""sqhw.ref against plain Fraction arithmetic: products, dots, matmul, requantizer, block dots."""

import itertools
from fractions import Fraction

import numpy as np
import pytest

from sqhw import ref
from sqhw.formats import DETERMINISTIC_MODES, NAMED, parse

PAIRS_8BIT = ["float8_e4m3fn", "float8_e5m2", "int8"]
SMALL = ["float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn", "int4", "uint4"]
# finite codes of each format, counted from its layout (NaN / Inf codes left out)
FINITE_CODES = {"float8_e4m3fn": 256 - 2, "float8_e5m2": 256 - 2 * 4, "int8": 256,
                "float6_e2m3fn": 64, "float6_e3m2fn": 64, "float4_e2m1fn": 16, "int4": 16,
                "uint4": 16}


def finite_codes(fmt):
    return np.flatnonzero(np.isfinite(fmt.table))


def frac_of(fmt, codes):
    return [Fraction(float(v)) for v in fmt.table[np.ravel(codes)]]


@pytest.mark.parametrize("a_name,b_name", list(itertools.product(PAIRS_8BIT, repeat=2))
                         + list(itertools.product(SMALL, repeat=2)))
def test_every_product_is_exact(a_name, b_name):
    a_fmt, b_fmt = parse(a_name), parse(b_name)
    a_codes, b_codes = np.meshgrid(finite_codes(a_fmt), finite_codes(b_fmt), indexing="ij")
    prod = ref.mul(a_codes, a_fmt, b_codes, b_fmt)
    pf = ref.product_format(a_fmt, b_fmt)
    # every product fits the derived width, and equals the float64 product (exact here:
    # both factors have <= 4 significant bits, so their product is exact in float64)
    want = a_fmt.table[a_codes] * b_fmt.table[b_codes]
    got = np.array([Fraction(int(p), 1 << pf.frac_bits) for p in prod.ravel()], dtype=object)
    np.testing.assert_array_equal(np.array([float(g) for g in got]), want.ravel(), strict=True)
    ints = prod.astype(object).ravel()
    assert min(ints) >= pf.min_int and max(ints) <= pf.max_int
    assert got.size == FINITE_CODES[a_name] * FINITE_CODES[b_name]


def test_accumulator_width_is_tight_and_sufficient():
    e4m3 = parse("float8_e4m3fn")
    acc = ref.accumulator_format(e4m3, e4m3, 1024)
    assert (acc.bits, acc.frac_bits) == (47, 18)
    worst = 448 * 448 * 1024 * 2**18
    assert worst <= acc.max_int and worst > (acc.max_int >> 1)
    assert ref.accumulator_format(parse("int8"), parse("int8"), 1).bits == 16  # -128*-128
    assert ref.accumulator_format(parse("uint4"), parse("uint4"), 4).signed is False


@pytest.mark.parametrize("a_name,b_name", [("float8_e4m3fn", "float8_e4m3fn"),
                                           ("float8_e4m3fn", "int8"),
                                           ("float8_e5m2", "float8_e5m2"),
                                           ("float4_e2m1fn", "int8")])
def test_matmul_equals_fraction_sums(a_name, b_name, rng):
    a_fmt, b_fmt = parse(a_name), parse(b_name)
    m, k, n = 5, 77, 3  # ragged K
    w = rng.choice(finite_codes(a_fmt), size=(m, k))
    x = rng.choice(finite_codes(b_fmt), size=(k, n))
    acc = ref.matmul(w, a_fmt, x, b_fmt)
    frac = ref.product_format(a_fmt, b_fmt).frac_bits
    wf, xf = np.array(frac_of(a_fmt, w)).reshape(m, k), np.array(frac_of(b_fmt, x)).reshape(k, n)
    checked = 0
    for i in range(m):
        for j in range(n):
            want = sum(wf[i, t] * xf[t, j] for t in range(k))
            assert Fraction(int(acc[i, j]), 1 << frac) == want
            checked += 1
    assert checked == m * n
    # e5m2 x e5m2 accumulators exceed 63 bits: the reference switches to Python ints
    assert (acc.dtype == object) == (ref.accumulator_format(a_fmt, b_fmt, k).bits > 63)


def test_dot_is_order_independent(rng):
    e5m2 = parse("float8_e5m2")
    codes = rng.choice(finite_codes(e5m2), size=4096)
    ones = e5m2.encode(np.ones(4096))
    forward = ref.dot(codes, e5m2, ones, e5m2)
    backward = ref.dot(codes[::-1], e5m2, ones, e5m2)
    assert forward == backward
    assert Fraction(int(forward), 1 << 32) == sum(frac_of(e5m2, codes))


def spec_round(value: Fraction, fmt, rounding):
    """Expected requantizer output from the exact value: encode of a float64 that holds it."""
    return fmt.encode(np.array([float(value)]), rounding=rounding, saturate=True)[0]


@pytest.mark.parametrize("out_name", ["float8_e4m3fn", "float8_e5m2", "float4_e2m1fn", "int8",
                                      "fixed<s,4,4>", "e3m4"])
@pytest.mark.parametrize("rounding", DETERMINISTIC_MODES)
def test_requantize_equals_encode_of_exact_value(out_name, rounding, rng):
    out = parse(out_name)
    n = np.concatenate([rng.integers(-2**40, 2**40, 20_000), rng.integers(-2**12, 2**12, 20_000),
                        np.arange(-300, 300) << 14])  # many exact ties
    frac = 20
    got = ref.requantize(n, frac, out, rounding=rounding)
    # below 2**53 an int64 times a power of two is exact in float64, so encode sees it exactly
    want = out.encode(np.ldexp(n.astype(np.float64), -frac), rounding=rounding, saturate=True)
    np.testing.assert_array_equal(got, want.astype(np.int64), strict=True,
                                  err_msg=str(n[got != want][:5]))
    assert got.size == 20_000 + 20_000 + 600


def test_requantize_wide_object_accumulators():
    e4m3 = parse("float8_e4m3fn")
    n = np.array([3 * 2**100 + 1, -(2**90), 0], dtype=object)
    got = e4m3.decode(ref.requantize(n, 100, e4m3))
    # 3 + 2^-100 -> 3; -2^-10 is half the smallest subnormal: ties to (negative) zero
    assert got.tolist() == [3.0, 0.0, 0.0]
    assert np.signbit(got).tolist() == [False, True, False]
    up = e4m3.decode(ref.requantize(n[1:2] - 1, 100, e4m3))  # just past the tie
    assert up.tolist() == [-2.0**-9]


def test_dyadic_requantizer(rng):
    m, s = ref.dyadic(0.0123, 16)
    assert 2**15 <= m < 2**16 and abs(m / 2**s - 0.0123) < 0.0123 * 2**-15
    acc = rng.integers(-2**24, 2**24, 50_000)
    got = ref.requantize_dyadic(acc, m, s, parse("int8"), zero_point=3)
    want = np.clip(np.array([round(Fraction(int(a) * m, 1 << s)) for a in acc]) + 3, -128, 127)
    # Python's round() is ties-to-even
    np.testing.assert_array_equal(parse("int8").to_int(got), want, strict=True)
    assert got.size == 50_000


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp4", "mxint8", "nvfp4"])
def test_block_dot_is_exact(name, rng):
    fmt = NAMED[name]
    a = rng.standard_normal((4, 64)) * np.exp(rng.uniform(-8, 8, (4, 1)))
    b = rng.standard_normal((4, 64))
    ea, eb = fmt.encode(a), fmt.encode(b)
    got = ref.block_dot(ea, fmt, eb, fmt)
    da, db = fmt.decode(ea), fmt.decode(eb)
    for r in range(4):
        want = sum(Fraction(float(p)) * Fraction(float(q)) for p, q in zip(da[r], db[r]))
        assert Fraction(int(got.ints[r]), 1) / Fraction(2) ** got.frac_bits == want
    assert got.ints.shape == (4,)
