"""The Triton path against sqhw.formats / sqhw.ref with zero tolerance: on a GPU where one
is attached, otherwise in Triton's interpreter on the CPU (small shapes)."""

import numpy as np
import pytest
import torch
from conftest import near_ties

from sqhw import ref
from sqhw.baselines import triton_gpu
from sqhw.formats import DETERMINISTIC_MODES, parse
from sqhw.sparsity import NM, PATTERNS

pytestmark = pytest.mark.slow

ELEMENT = ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float6_e2m3fn", "float4_e2m1fn",
           "e3m4", "int8", "uint4", "fixed<s,4,4>"]


@pytest.mark.parametrize("name", ELEMENT)
def test_encode_decode_bit_identical(name, rng):
    fmt = parse(name)
    x = (rng.standard_normal(4096) * np.exp(rng.uniform(-9, 9, 4096))).astype(np.float32)
    x[:3] = [0.0, -0.0, np.inf]
    checked = 0
    for rounding in DETERMINISTIC_MODES:
        for saturate in (False, True):
            xx = x if (saturate or not name.startswith(("int", "uint", "fixed"))) else x[3:]
            got = triton_gpu.encode(torch.from_numpy(xx), fmt, rounding, saturate)
            want = fmt.encode(xx, rounding=rounding, saturate=saturate)
            np.testing.assert_array_equal(got.cpu().numpy().astype(np.int64),
                                          want.astype(np.int64), strict=True,
                                          err_msg=f"{rounding} saturate={saturate}")
            checked += got.numel()
    codes = torch.arange(1 << fmt.bits)
    got, want = triton_gpu.decode(codes, fmt).cpu().numpy(), fmt.table
    np.testing.assert_array_equal(got, want, strict=True)  # NaN matches NaN
    # 5 modes x 4096 values, saturating and not (integers refuse the Inf among them unsaturated)
    integer = name.startswith(("int", "uint", "fixed"))
    assert checked == 5 * (4096 + (4093 if integer else 4096)) and got.size == 1 << fmt.bits


# formats with their finite non-negative values (zero included), counted from the layout
NEAR_TIE_FORMATS = [("int8", 129), ("fixed<s,4,4>", 129), ("float8_e4m3fn", 127),
                    ("float4_e2m1fn", 8)]


@pytest.mark.parametrize("name,magnitudes", NEAR_TIE_FORMATS)
def test_float64_encode_near_every_tie(name, magnitudes):
    """Issue 11: float64 inputs at and beside every tie, both signs, every mode."""
    fmt = parse(name)
    x = near_ties(fmt.table)
    checked = 0
    for rounding in DETERMINISTIC_MODES:
        for saturate in (False, True):
            got = triton_gpu.encode(torch.from_numpy(x), fmt, rounding, saturate)
            want = fmt.encode(x, rounding=rounding, saturate=saturate)
            np.testing.assert_array_equal(got.cpu().numpy().astype(np.int64),
                                          want.astype(np.int64), strict=True,
                                          err_msg=f"{rounding} saturate={saturate}")
            checked += want.size
    assert checked == 10 * 6 * (2 * magnitudes - 1)


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp4", "mxint8", "nvfp4"])
def test_block_encode_bit_identical(name, rng):
    fmt = parse(name)
    x = rng.standard_normal((8, 64)) * np.exp(rng.uniform(-5, 5, (8, 1)))
    got = triton_gpu.encode(torch.from_numpy(x), fmt)
    want = fmt.encode(x)
    np.testing.assert_array_equal(got.elements.cpu().numpy(), want.elements, strict=True)
    np.testing.assert_array_equal(got.scales.numpy(), want.scales, strict=True)
    assert got.tensor_scale == want.tensor_scale
    decoded = triton_gpu.decode(got, fmt).cpu().numpy()
    np.testing.assert_array_equal(decoded, fmt.decode(want), strict=True)
    assert got.elements.numel() == decoded.size == 8 * 64


@pytest.mark.parametrize("w_name", ["int8", "float8_e4m3fn"])
def test_matmul_and_nm_matmul_equal_ref(w_name, rng):
    w_fmt, x_fmt = parse(w_name), parse("int8")
    checked = 0
    for m, k, n in [(5, 77, 3), (20, 64, 18)]:
        finite = np.flatnonzero(np.isfinite(w_fmt.table))
        w = rng.choice(finite, (m, k))
        x = rng.integers(0, 256, (k, n))
        got = triton_gpu.matmul(torch.from_numpy(w), w_fmt, torch.from_numpy(x), x_fmt)
        np.testing.assert_array_equal(got.cpu().numpy(), ref.matmul(w, w_fmt, x, x_fmt),
                                      strict=True)
        checked += got.numel()
        for pattern in PATTERNS:
            nm = NM.parse(pattern)
            sparse = w_fmt.encode(nm.prune(w_fmt.decode(w)), saturate=True)
            packed = nm.pack(sparse, w_fmt)
            got = triton_gpu.nm_matmul(packed, torch.from_numpy(x), x_fmt)
            np.testing.assert_array_equal(got.cpu().numpy(), ref.matmul(sparse, w_fmt, x, x_fmt),
                                          strict=True)
            checked += got.numel()
    assert checked == 6 * (15 + 360)


def test_refusals_are_named():
    with pytest.raises(ValueError, match="stochastic rounding is not offered"):
        triton_gpu.encode(torch.zeros(4), parse("int8"), "stochastic")
    with pytest.raises(ValueError, match="not float8_e8m0fnu"):
        triton_gpu.encode(torch.ones(4), parse("float8_e8m0fnu"))
    with pytest.raises(TypeError, match="expected a floating-point tensor"):
        triton_gpu.encode(torch.zeros(4, dtype=torch.int32), parse("int8"))
    with pytest.raises(ValueError, match=r"expected w \(M, K\) and x \(K, N\)"):
        triton_gpu.matmul(torch.zeros(2, 3), parse("int8"), torch.zeros(4, 2), parse("int8"))
