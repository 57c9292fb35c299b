"""The Numba baseline against sqhw.formats / sqhw.ref with zero tolerance."""

import itertools

import numpy as np
import pytest
from conftest import near_ties

from sqhw import ref
from sqhw.baselines import numba_cpu
from sqhw.formats import (DETERMINISTIC_MODES, NAMED, ROUNDING_MODES, BlockScaled, Fixed,
                          Minifloat, parse, presets)
from sqhw.sparsity import NM, PATTERNS


def _inputs(rng, n=60_000):
    x = (rng.standard_normal(n) * np.exp(rng.uniform(-12, 12, n))).astype(np.float32)
    x[:4] = [0.0, -0.0, np.inf, -np.inf]
    return x


@pytest.mark.parametrize("fmt", [f for f in presets() if not isinstance(f, BlockScaled)],
                         ids=lambda f: f.name)
def test_encode_decode_bit_identical(fmt, rng):
    x = _inputs(rng)
    checked = 0
    for rounding, saturate in itertools.product(ROUNDING_MODES, (False, True)):
        xx = x if (saturate or not isinstance(fmt, Fixed)) else x[np.isfinite(x)]
        want = fmt.encode(xx, rounding=rounding, saturate=saturate, seed=5)
        got = numba_cpu.encode(xx, fmt, rounding=rounding, saturate=saturate, seed=5)
        np.testing.assert_array_equal(got, want, strict=True, err_msg=f"{rounding} {saturate}")
        checked += got.size
    codes = np.arange(1 << fmt.bits)
    decoded = numba_cpu.decode(codes, fmt)
    np.testing.assert_array_equal(decoded, fmt.decode(codes), strict=True)  # NaN matches NaN
    # 6 modes x 60_000 values, saturating and not; Fixed refuses the two infinities unsaturated
    assert checked == 6 * (60_000 + (60_000 - 2 if isinstance(fmt, Fixed) else 60_000))
    assert decoded.size == 1 << fmt.bits


def test_float32_table_path_covers_every_top_half(rng):
    """The float32 encode reads a table indexed by the top 16 bits and a sticky bit: check
    every top half with low halves 0, 1, 0x8000 and 0xFFFF (zeros, subnormals, midpoints,
    Inf, NaN payloads) for every minifloat preset the table path takes."""
    high = np.arange(1 << 16, dtype=np.uint32) << 16
    bits = (high[:, None] | np.array([0, 1, 0x8000, 0xFFFF], dtype=np.uint32)).ravel()
    x = bits.view(np.float32)
    formats = [f for f in presets() if isinstance(f, Minifloat)
               and f.man_bits <= numba_cpu.F32_TABLE_MAX_MAN]
    checked = 0
    for fmt in formats:
        xx = x if fmt.has_nan else x[~np.isnan(x)]
        for rounding, saturate in itertools.product(DETERMINISTIC_MODES, (False, True)):
            want = fmt.encode(xx, rounding=rounding, saturate=saturate)
            got = numba_cpu.encode(xx, fmt, rounding=rounding, saturate=saturate)
            np.testing.assert_array_equal(got, want, strict=True,
                                          err_msg=f"{fmt.name} {rounding} {saturate}")
            checked += got.size
    # the 10 LLVM-named minifloats and the 27 eXmY splits of 3..8 bits; 2**18 inputs, of which
    # 2 signs x (127 top halves x 4 + 3) are NaN, left out for formats without NaN
    assert len(formats) == 10 + 27
    nan_inputs = 2 * (127 * 4 + 3)
    assert checked == 10 * sum(2**18 - (0 if f.has_nan else nan_inputs) for f in formats)


# formats for the near-tie check, with their finite non-negative values (zero included) counted
# from the layout: the general kernel (e8m0: unsigned, no zero), the integer fast path, Fixed
NEAR_TIE_FORMATS = [("float8_e4m3fn", 127), ("float4_e2m1fn", 8), ("float8_e8m0fnu", 255),
                    ("float8_e4m3fnuz", 128), ("int8", 129), ("uint4", 16),
                    ("mxint8_element", 129)]


def test_float64_encode_near_every_tie(rng):
    """Issue 11: float64 inputs at and beside every tie, both signs, every mode (stochastic
    included), whole arrays and single values (a one-value array once took another path)."""
    checked = 0
    for name, magnitudes in NEAR_TIE_FORMATS:
        fmt = NAMED["mxint8"].element if name == "mxint8_element" else parse(name)
        x = near_ties(fmt.table)
        single = x[rng.integers(0, x.size, 40)]
        for rounding, saturate in itertools.product(ROUNDING_MODES, (False, True)):
            want = fmt.encode(x, rounding=rounding, saturate=saturate, seed=9)
            got = numba_cpu.encode(x, fmt, rounding=rounding, saturate=saturate, seed=9)
            np.testing.assert_array_equal(got, want, strict=True,
                                          err_msg=f"{name} {rounding} saturate={saturate}")
            checked += got.size
            for v in single:
                one = np.array([v])
                np.testing.assert_array_equal(
                    numba_cpu.encode(one, fmt, rounding=rounding, saturate=saturate, seed=1),
                    fmt.encode(one, rounding=rounding, saturate=saturate, seed=1), strict=True,
                    err_msg=f"{name} {rounding} saturate={saturate} x={v!r}")
                checked += 1
    assert checked == 12 * sum(6 * (2 * m - 1) + 40 for _, m in NEAR_TIE_FORMATS)


@pytest.mark.parametrize("fmt", [f for f in presets() if isinstance(f, BlockScaled)],
                         ids=lambda f: f.name)
def test_block_encode_bit_identical(fmt, rng):
    x = _inputs(rng)[4:].astype(np.float64)[:96 * 300].reshape(300, 96)
    checked = 0
    for rounding in ("rne", "rtz", "stochastic"):
        want = fmt.encode(x, rounding=rounding, seed=2)
        got = numba_cpu.encode(x, fmt, rounding=rounding, seed=2)
        np.testing.assert_array_equal(got.elements, want.elements, strict=True)
        np.testing.assert_array_equal(got.scales, want.scales, strict=True)
        assert got.tensor_scale == want.tensor_scale
        np.testing.assert_array_equal(numba_cpu.decode(got, fmt), fmt.decode(want), strict=True)
        checked += got.elements.size
    ragged = numba_cpu.encode(x[:, :90], fmt, pad=True)
    np.testing.assert_array_equal(ragged.elements, fmt.encode(x[:, :90], pad=True).elements,
                                  strict=True)
    checked += ragged.elements.size
    assert checked == 4 * 300 * 96  # the ragged rows are padded to 96


def test_block_encode_every_mode_wide_range(rng):
    """Blocks spanning ~2^230 of range (quotients below float32's range take the float64 path,
    the rest the table), zeros, every deterministic mode, saturate on and off."""
    x = (rng.standard_normal((200, 96)) * np.exp(rng.uniform(-100, 60, (200, 96))))
    x = x.astype(np.float32)
    x[:, ::7] = 0.0
    checked = 0
    for fmt in (f for f in presets() if isinstance(f, BlockScaled)):
        for rounding, saturate in itertools.product(DETERMINISTIC_MODES, (False, True)):
            got = numba_cpu.encode(x, fmt, rounding=rounding, saturate=saturate)
            want = fmt.encode(x, rounding=rounding, saturate=saturate)
            np.testing.assert_array_equal(got.elements, want.elements, strict=True,
                                          err_msg=f"{fmt.name} {rounding} {saturate}")
            np.testing.assert_array_equal(got.scales, want.scales, strict=True)
            checked += got.elements.size
    assert checked == 7 * 10 * 200 * 96


PAIRS = [("int8", "int8"), ("float8_e4m3fn", "int8"), ("float8_e4m3fn", "float8_e4m3fn"),
         ("float4_e2m1fn", "float6_e3m2fn"), ("uint4", "int8")]


@pytest.mark.parametrize("w_name,x_name", PAIRS)
def test_matmul_equals_ref(w_name, x_name, rng):
    w_fmt, x_fmt = parse(w_name), parse(x_name)
    fw, fx = (np.flatnonzero(np.isfinite(f.table)) for f in (w_fmt, x_fmt))
    checked = 0
    for m, k, n in [(1, 1, 1), (7, 77, 5), (33, 256, 17), (16, 1000, 3)]:
        w, x = rng.choice(fw, (m, k)), rng.choice(fx, (k, n))
        got = numba_cpu.matmul(w, w_fmt, x, x_fmt)
        want = ref.matmul(w, w_fmt, x, x_fmt)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want.astype(np.int64), strict=True)
        checked += got.size
    assert checked == 1 + 35 + 561 + 48


@pytest.mark.parametrize("pattern", PATTERNS + ("4:4",))
@pytest.mark.parametrize("w_name,x_name", [("int8", "int8"), ("float8_e4m3fn", "int8")])
def test_nm_matmul_equals_masked_dense(pattern, w_name, x_name, rng):
    nm, w_fmt, x_fmt = NM.parse(pattern), parse(w_name), parse(x_name)
    checked = 0
    for m, k, n in [(9, 64, 4), (5, 77, 3)]:
        w = w_fmt.encode(nm.prune(rng.standard_normal((m, k)) * 30), saturate=True)
        x = rng.integers(0, 256, (k, n))
        packed = nm.pack(w, w_fmt)
        got = numba_cpu.nm_matmul(packed, x, x_fmt)
        np.testing.assert_array_equal(got, numba_cpu.matmul(w, w_fmt, x, x_fmt), strict=True)
        np.testing.assert_array_equal(got, ref.sparse_matmul(packed, x, x_fmt).astype(np.int64),
                                      strict=True)
        checked += got.size
    assert checked == 9 * 4 + 5 * 3


def test_bad_input_is_named():
    e4m3, int8 = parse("float8_e4m3fn"), parse("int8")
    with pytest.raises(ValueError, match=r"expected w \(M, K\) and x \(K, N\)"):
        numba_cpu.matmul(np.zeros((2, 3), np.int64), int8, np.zeros((4, 2), np.int64), int8)
    with pytest.raises(TypeError, match="x: expected a real-valued numpy array"):
        numba_cpu.encode(np.array(["a"]), e4m3)
    with pytest.raises(ValueError, match="96-bit accumulator|needs a"):
        numba_cpu.matmul(np.zeros((1, 4), np.int64), parse("float8_e5m2"),
                         np.zeros((4, 1), np.int64), parse("float8_e5m2"))
    with pytest.raises(ValueError, match="has no NaN encoding"):
        numba_cpu.encode(np.array([np.nan]), parse("float4_e2m1fn"))
    with pytest.raises(ValueError, match=r"x: integer inputs must have magnitude at most 2\*\*53"):
        numba_cpu.encode(np.array([2**62 + 1]), int8)  # float64 would turn it into 2**62
    with pytest.raises(ValueError, match="NaN/Inf codes"):
        numba_cpu.matmul(np.full((1, 1), 0x7F), e4m3, np.zeros((1, 1), np.int64), int8)
