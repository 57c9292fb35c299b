"""The Triton path against sqhw.formats / sqhw.ref with zero tolerance: on a GPU where one
is attached (larger shapes there), otherwise in Triton's interpreter on the CPU (small
shapes)."""

import json

import numpy as np
import pytest
import torch
from conftest import near_ties

from sqhw import ref
from sqhw.baselines import triton_gpu, triton_matmul
from sqhw.baselines._triton import ON_GPU
from sqhw.formats import DETERMINISTIC_MODES, parse
from sqhw.sparsity import NM, PATTERNS

pytestmark = pytest.mark.slow

ELEMENT = ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float6_e2m3fn", "float4_e2m1fn",
           "e3m4", "e9m3", "bfloat16", "int8", "uint4", "fixed<s,4,4>"]  # e9m3: below float32
N = 1 << 18 if ON_GPU else 4096  # encode inputs per mode
# (M, K, N) of the matmuls: odd sizes; on a GPU also a long K and a narrow N
SHAPES = [(5, 77, 3), (20, 64, 18)] + ([(300, 1000, 130), (256, 4096, 64)] if ON_GPU else [])


@pytest.mark.parametrize("name", ELEMENT)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_encode_decode_bit_identical(name, dtype, rng):
    fmt = parse(name)
    x = (rng.standard_normal(N) * np.exp(rng.uniform(-9, 9, N))).astype(dtype)
    x[:3] = [0.0, -0.0, np.inf]
    checked = 0
    for rounding in DETERMINISTIC_MODES:
        for saturate in (False, True):
            xx = x if (saturate or not name.startswith(("int", "uint", "fixed"))) else x[3:]
            got = triton_gpu.encode(torch.from_numpy(xx), fmt, rounding, saturate)
            want = fmt.encode(xx.astype(np.float64), rounding=rounding, saturate=saturate)
            np.testing.assert_array_equal(got.cpu().numpy().astype(np.int64),
                                          want.astype(np.int64), strict=True,
                                          err_msg=f"{rounding} saturate={saturate}")
            checked += got.numel()
    codes = torch.arange(1 << fmt.bits)
    got, want = triton_gpu.decode(codes, fmt).cpu().numpy(), fmt.table
    np.testing.assert_array_equal(got, want, strict=True)  # NaN matches NaN
    # 5 modes x N values, saturating and not (integers refuse the Inf among them unsaturated)
    integer = name.startswith(("int", "uint", "fixed"))
    assert checked == 5 * (N + (N - 3 if integer else N)) and got.size == 1 << fmt.bits


# formats with their finite non-negative values (zero included), counted from the layout
NEAR_TIE_FORMATS = [("int8", 129), ("fixed<s,4,4>", 129), ("float8_e4m3fn", 127),
                    ("float4_e2m1fn", 8)]


def _near_ties_float32(values) -> np.ndarray:
    """near_ties with float32 neighbours (what the float32 kernels round from)."""
    points = np.unique(np.abs(near_ties(values)).astype(np.float32))  # neighbours collapse
    points = np.concatenate([points, np.nextafter(points, np.float32(np.inf)),
                             np.nextafter(points, np.float32(-np.inf))])
    return np.concatenate([points, -points])


@pytest.mark.parametrize("name,magnitudes", NEAR_TIE_FORMATS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_encode_near_every_tie(name, magnitudes, dtype):
    """Issue 11: inputs at and beside every tie (float64 or float32 neighbours), both signs,
    every mode."""
    fmt = parse(name)
    x = near_ties(fmt.table) if dtype == np.float64 else _near_ties_float32(fmt.table)
    checked = 0
    for rounding in DETERMINISTIC_MODES:
        for saturate in (False, True):
            got = triton_gpu.encode(torch.from_numpy(x), fmt, rounding, saturate)
            want = fmt.encode(x.astype(np.float64), rounding=rounding, saturate=saturate)
            np.testing.assert_array_equal(got.cpu().numpy().astype(np.int64),
                                          want.astype(np.int64), strict=True,
                                          err_msg=f"{rounding} saturate={saturate}")
            checked += want.size
    assert checked == 10 * 6 * (2 * magnitudes - 1)


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp4", "mxint8", "nvfp4"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_block_encode_bit_identical(name, dtype, rng):
    fmt = parse(name)
    rows = 512 if ON_GPU else 8
    x = (rng.standard_normal((rows, 64)) * np.exp(rng.uniform(-5, 5, (rows, 1)))).astype(dtype)
    x[0, :32] = 0.0  # an all-zero block: the smallest scale
    x[1, 5] = 2.0 ** -1070  # a float64 subnormal block maximum (float32: rounds to zero)
    checked = 0
    for rounding in DETERMINISTIC_MODES:
        got = triton_gpu.encode(torch.from_numpy(x), fmt, rounding)
        want = fmt.encode(x, rounding=rounding)
        np.testing.assert_array_equal(got.elements.cpu().numpy(), want.elements, strict=True,
                                      err_msg=rounding)
        np.testing.assert_array_equal(got.scales.cpu().numpy(), want.scales, strict=True)
        assert got.tensor_scale == want.tensor_scale
        checked += got.elements.numel()
    decoded = triton_gpu.decode(got, fmt).cpu().numpy()
    np.testing.assert_array_equal(decoded, fmt.decode(want), strict=True)
    assert checked == 5 * rows * 64 and decoded.size == rows * 64


@pytest.mark.parametrize("w_name", ["int8", "float8_e4m3fn"])
def test_matmul_and_nm_matmul_equal_ref(w_name, rng):
    w_fmt, x_fmt = parse(w_name), parse("int8")
    checked = 0
    for m, k, n in SHAPES:
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
    assert checked == (1 + len(PATTERNS)) * sum(m * n for m, _, n in SHAPES)


@pytest.mark.parametrize("column_major", [False, True])
def test_int8_kernels_equal_ref(column_major, rng):
    """matmul_int8 (as torch._int_mm) and the 2:4 kernel on int8 tensors, both layouts of b,
    every int8 value pair among the operands."""
    int8 = parse("int8")
    checked = 0
    for m, k, n in SHAPES + [(256, 1, 256)]:
        w = rng.integers(0, 256, (m, k)).astype(np.uint8)
        x = rng.integers(0, 256, (k, n)).astype(np.uint8)
        if k == 1:  # out[i, j] = w_i * x_j: every pair of int8 values once
            w, x = np.arange(256, dtype=np.uint8)[:, None], np.arange(256, dtype=np.uint8)[None]
        b = torch.from_numpy(x.view(np.int8))
        if column_major:
            b = b.t().contiguous().t()
        got = triton_matmul.matmul_int8(torch.from_numpy(w.view(np.int8)), b)
        np.testing.assert_array_equal(got.cpu().numpy().astype(np.int64),
                                      ref.matmul(w, int8, x, int8), strict=True)
        checked += got.numel()
        nm = NM.parse("2:4")
        sparse = int8.encode(nm.prune(int8.decode(w)), saturate=True)
        got = triton_matmul.nm_matmul_2to4(triton_matmul.prepare_2to4(nm.pack(sparse, int8)), b)
        np.testing.assert_array_equal(got.cpu().numpy().astype(np.int64),
                                      ref.matmul(sparse, int8, x, int8), strict=True)
        checked += got.numel()
    assert checked == 2 * (sum(m * n for m, _, n in SHAPES) + 256 * 256)


def test_refusals_are_named():
    with pytest.raises(ValueError, match="stochastic rounding is not offered"):
        triton_gpu.encode(torch.zeros(4), parse("int8"), "stochastic")
    with pytest.raises(ValueError, match="not float8_e8m0fnu"):
        triton_gpu.encode(torch.ones(4), parse("float8_e8m0fnu"))
    with pytest.raises(TypeError, match="expected a floating-point tensor"):
        triton_gpu.encode(torch.zeros(4, dtype=torch.int32), parse("int8"))
    with pytest.raises(ValueError, match="float4_e2m1fn has no NaN encoding"):
        triton_gpu.encode(torch.tensor([1.0, float("nan")]), parse("float4_e2m1fn"))
    with pytest.raises(ValueError, match="mxfp4: x contains NaN/Inf"):
        triton_gpu.encode(torch.full((2, 32), float("inf")), parse("mxfp4"))
    with pytest.raises(ValueError, match="nvfp4: x contains NaN/Inf"):
        triton_gpu.encode(torch.full((2, 16), float("nan")), parse("nvfp4"))
    with pytest.raises(ValueError, match="not a multiple of the block size 32"):
        triton_gpu.encode(torch.ones(2, 40), parse("mxfp4"))
    with pytest.raises(ValueError, match=r"expected w \(M, K\) and x \(K, N\)"):
        triton_gpu.matmul(torch.zeros(2, 3), parse("int8"), torch.zeros(4, 2), parse("int8"))
    with pytest.raises(TypeError, match="b: expected a 2-D torch.int8 tensor"):
        triton_matmul.matmul_int8(torch.zeros(2, 3, dtype=torch.int8), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="expected 2:4 weights, got 1:4"):
        nm = NM.parse("1:4")
        triton_matmul.prepare_2to4(nm.pack(np.zeros((2, 8), np.uint8), parse("int8")))


@pytest.mark.skipif(ON_GPU, reason="the no-GPU answer")
def test_bench_gpu_rows_say_no_gpu(capsys):
    from sqhw.cli import main

    assert main(["bench", "--gpu-only", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "gpu": {"skipped": "no GPU (torch.cuda.is_available() is false)"}}
    assert main(["bench", "--gpu-only"]) == 0
    assert capsys.readouterr().out.strip() == "GPU: no GPU (torch.cuda.is_available() is false)"


@pytest.mark.gpu
@pytest.mark.skipif(not ON_GPU, reason="needs a CUDA device")
def test_bench_gpu_rows_checked_and_timed():
    from sqhw.baselines import bench_gpu

    result = bench_gpu.run(quick=True)
    ours = [r for r in result["encode"] + result["matmul"] if r["impl"].startswith("sqhw")]
    assert len(ours) == 6 and all("error" not in r and r["seconds"] > 0 for r in ours), ours
    assert all("graph" not in r for r in result["encode"] + result["matmul"])
    text = bench_gpu.report(result)
    assert result["machine"]["gpu"] in text and text.count("sqhw triton") == 6


def test_bench_gpu_report_shows_errors_and_ratios():
    from sqhw.baselines import bench_gpu

    machine = {"gpu": "G", "sms": 2, "memory_gib": 1.0, "driver": "D", "cuda": "C",
               "torch": "T", "triton": "R"}
    result = {"machine": machine, "encode_elements": 8, "encode": [
        {"format": "-", "impl": "copy", "elements_per_s": 2e9, "of_copy_bandwidth": 1.0,
         "kernel_of_copy_bandwidth": 1.0},
        {"format": "float4_e2m1fn", "impl": "sqhw triton", "error": "output differs"}],
        "matmul": [{"shape": "8x8x8", "pattern": "2:4", "impl": "sqhw triton int8 2:4",
                    "dense_ops_per_s": 3e12, "vs_cublas_int8": 0.5}]}
    lines = bench_gpu.report(result).splitlines()
    assert lines[0] == "GPU: G (2 SMs, 1.0 GiB), driver D, CUDA C, torch T, Triton R"
    assert "float4_e2m1fn   sqhw triton                  error: output differs" in lines
    assert lines[-2].split() == ["8x8x8", "2:4", "sqhw", "triton", "int8", "2:4", "3.0", "0.50",
                                 "-", "-"]
