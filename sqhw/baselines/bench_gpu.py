"""The GPU rows of `sqhw bench`: the Triton kernels beside torch's cast, cuBLAS int8
(torch._int_mm), cuSPARSELt 2:4 (torch._cslt_sparse_mm), torchao's MX / NVFP4 quantizers
where torchao imports, and a device-to-device copy as the bandwidth roofline.

Two times per row, both medians in one process, so the ratios are what to read: `seconds`,
a Python call as a user makes it (triton.testing.do_bench: CUDA events, warm-up first, L2
flushed between runs; the host's launch overhead shows where it exceeds the GPU's work), and
`kernel_seconds`, the same call captured once in a CUDA graph and replayed
(triton.testing.do_bench_cudagraph: the GPU's time alone; calls that read a flag back to the
host, a device sync, cannot be captured and have none). Every sqhw row's output is first
compared with the reference (sqhw.formats / sqhw.ref) on the same input: a row whose output
differs gets an error and no time. Peer rows (torch, torchao) record how many of their codes
equal the reference's (`agree`); they are timed either way."""

from __future__ import annotations

import subprocess

import numpy as np

from .. import ref
from ..formats import parse

COPY = "copy (device to device)"


def gpu_machine() -> dict | None:
    """The GPU, its driver and the CUDA / torch / Triton versions; None without a GPU."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    import triton

    props = torch.cuda.get_device_properties(0)
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                                 "--format=csv,noheader"], capture_output=True, text=True,
                                timeout=30).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        driver = None
    return {"gpu": props.name, "sms": props.multi_processor_count,
            "memory_gib": round(props.total_memory / 2 ** 30, 1), "driver": driver,
            "cuda": torch.version.cuda, "torch": torch.__version__, "triton": triton.__version__}


def _seconds(fn) -> float:
    from triton.testing import do_bench

    return do_bench(fn, warmup=25, rep=100, return_mode="median") / 1e3


def _graph_seconds(fn) -> float:
    from triton.testing import do_bench_cudagraph

    return do_bench_cudagraph(fn, rep=100, return_mode="median") / 1e3


def _kernel_times(rows) -> None:
    """kernel_seconds of every row that kept a `graph` callable, after every per-call time
    is taken (a capture that fails cannot spoil those)."""
    for r in sorted(rows, key=lambda r: "cslt" in r["impl"]):  # cuSPARSELt last
        fn = r.pop("graph", None)
        if fn is not None and "seconds" in r:
            try:
                r["kernel_seconds"] = _graph_seconds(fn)
            except Exception as exc:
                r["kernel_error"] = f"{type(exc).__name__}: {exc}"[:200]


def _equal(got, want) -> bool:
    got, want = np.asarray(got), np.asarray(want)
    return got.shape == want.shape and bool(np.array_equal(got, want))


def _timed(row: dict, fn, check, graph: bool = True) -> dict:
    """row with its time, if check() (the exact comparison) holds; an error otherwise.
    graph: fn never syncs with the host, so it can be timed as a CUDA graph too."""
    try:
        ok = check()
    except Exception as exc:  # a failing kernel gives an error row, never a figure
        return {**row, "error": f"{type(exc).__name__}: {exc}"}
    if not ok:
        return {**row, "error": "output differs from sqhw's reference"}
    return {**row, "seconds": _seconds(fn), **({"graph": fn} if graph else {})}


def _peer(row: dict, fn, agree, graph: bool = True) -> dict:
    try:
        share = float(agree())
        return {**row, "agree": share, "seconds": _seconds(fn),
                **({"graph": fn} if graph else {})}
    except Exception as exc:
        return {**row, "error": f"{type(exc).__name__}: {exc}"}


def _torchao():
    try:
        from torchao.prototype.mx_formats import mx_tensor, nvfp4_tensor
    except Exception as exc:  # not installed, or built for another torch
        return None, f"torchao not importable here ({type(exc).__name__}: {exc})"
    return (mx_tensor, nvfp4_tensor), None


def bench_encode(n: int, progress) -> list[dict]:
    import torch

    from . import triton_gpu

    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(n, device="cuda", generator=gen) * torch.exp2(
        torch.randint(-12, 13, (n,), device="cuda", generator=gen).float())
    x_host = x.cpu().numpy()
    copy = torch.empty_like(x)
    copy_fn = lambda: copy.copy_(x)  # noqa: E731
    rows = [{"format": "-", "impl": COPY, "bytes": 8 * n, "seconds": _seconds(copy_fn),
             "graph": copy_fn}]
    for name in ("float8_e4m3fn", "float4_e2m1fn"):
        progress(f"gpu encode {name}")
        fmt = parse(name)
        want = fmt.encode(x_host, saturate=False)
        rows.append(_timed({"format": name, "impl": "sqhw triton", "bytes": 5 * n},
                           lambda fmt=fmt: triton_gpu.encode(x, fmt),  # bound now: timed later
                           lambda: _equal(triton_gpu.encode(x, fmt).cpu().numpy(), want),
                           graph=fmt.has_nan))  # no NaN code: a NaN flag is read back
        if name == "float8_e4m3fn":
            rows.append(_peer({"format": name, "impl": "torch .to(float8_e4m3fn)",
                               "bytes": 5 * n}, lambda: x.to(torch.float8_e4m3fn),
                              lambda: np.mean(x.to(torch.float8_e4m3fn).view(torch.uint8)
                                              .cpu().numpy() == want)))
        else:
            rows.append({"format": name, "impl": "torch cast", "error":
                         "torch has no float32 -> float4_e2m1fn cast (.to refuses it)"})
    ao, why = _torchao()
    for name in ("mxfp4", "nvfp4"):
        progress(f"gpu encode {name}")
        fmt = parse(name)
        xb = x.reshape(-1, 64)
        want = fmt.encode(x_host.reshape(-1, 64))
        nbytes = 5 * n + n // fmt.block_size

        def check(fmt=fmt, xb=xb, want=want):
            got = triton_gpu.encode(xb, fmt)
            return (_equal(got.elements.cpu().numpy(), want.elements)
                    and _equal(got.scales.cpu().numpy(), want.scales)
                    and got.tensor_scale == want.tensor_scale)

        rows.append(_timed({"format": name, "impl": "sqhw triton", "bytes": nbytes},
                           lambda fmt=fmt, xb=xb: triton_gpu.encode(xb, fmt), check,
                           graph=False))  # the NaN/Inf flag (and NVFP4's amax) is read back
        if ao is None:
            rows.append({"format": name, "impl": "torchao", "error": why})
            continue
        mx_tensor, nvfp4_tensor = ao
        if name == "mxfp4":
            def quantize(xb=xb):
                return mx_tensor.to_mx(xb, torch.float4_e2m1fn_x2, 32)
            scales = lambda q: q[0].view(torch.uint8)  # noqa: E731
        else:
            def quantize(xb=xb):
                amax = torch.max(torch.abs(xb))
                return nvfp4_tensor.nvfp4_quantize(
                    xb, 16, nvfp4_tensor.per_tensor_amax_to_scale(amax))
            scales = lambda q: q[0].view(torch.uint8)  # noqa: E731
        rows.append(_peer({"format": name, "impl": "torchao (scales compared)",
                           "bytes": nbytes}, quantize,
                          lambda want=want: np.mean(scales(quantize()).cpu().numpy()
                                                    .reshape(want.scales.shape)
                                                    == want.scales), graph=False))
    _kernel_times(rows)
    copy_bw = rows[0]["bytes"] / rows[0]["seconds"]
    copy_kernel_bw = rows[0]["bytes"] / rows[0]["kernel_seconds"] \
        if "kernel_seconds" in rows[0] else None
    for r in rows:
        if "seconds" in r:
            r["elements_per_s"] = n / r["seconds"]
            r["of_copy_bandwidth"] = r["bytes"] / r["seconds"] / copy_bw
        if "kernel_seconds" in r and copy_kernel_bw:
            r["kernel_of_copy_bandwidth"] = r["bytes"] / r["kernel_seconds"] / copy_kernel_bw
    return rows


def _random_2to4(m, k, gen):
    """Random 2:4 weights on the GPU: kept values (M, K/2) int8 and positions (M, K/2)."""
    import torch

    pairs = torch.tensor([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]], device="cuda",
                         dtype=torch.uint8)
    choice = torch.randint(0, 6, (m, k // 4), device="cuda", generator=gen)
    positions = pairs[choice].reshape(m, k // 2)
    values = torch.randint(-128, 128, (m, k // 2), device="cuda", generator=gen,
                           dtype=torch.int8)
    dense = torch.zeros((m, k // 4, 4), device="cuda", dtype=torch.int8)
    dense.scatter_(2, positions.reshape(m, -1, 2).long(), values.reshape(m, -1, 2))
    return values, positions, dense.reshape(m, k)


def _exact_check(got, a, b, want64, sample_rows):
    """got equals the float64 product of the integers (exact: every partial sum is an
    integer below 2**53) and, on a sample of rows, sqhw.ref.matmul."""
    import torch

    if not torch.equal(got.double(), want64):
        return False
    int8 = parse("int8")
    rows = sample_rows.cpu()
    a_codes = a[rows].cpu().numpy().view(np.uint8)
    b_codes = b.cpu().numpy().view(np.uint8)
    return _equal(got[rows].cpu().numpy().astype(np.int64),
                  ref.matmul(a_codes, int8, b_codes, int8))


def bench_matmul(shapes, progress) -> list[dict]:
    import torch

    from . import triton_matmul

    gen = torch.Generator(device="cuda").manual_seed(1)
    rows = []
    for m, k, n in shapes:
        shape = f"{m}x{k}x{n}"
        a = torch.randint(-128, 128, (m, k), device="cuda", generator=gen, dtype=torch.int8)
        b = torch.randint(-128, 128, (n, k), device="cuda", generator=gen,
                          dtype=torch.int8).t()  # (K, N), column-major: cuBLAS's int8 layout
        sample = torch.randint(0, m, (8,), device="cuda", generator=gen)
        want = a.double() @ b.double()
        progress(f"gpu matmul {shape} dense")
        base = {"shape": shape, "pattern": "dense"}
        int_mm = lambda: torch._int_mm(a, b)  # noqa: E731
        ours = lambda: triton_matmul.matmul_int8(a, b)  # noqa: E731
        shape_rows = [_timed({**base, "impl": "torch._int_mm (cuBLAS)"}, int_mm,
                             lambda: _exact_check(int_mm(), a, b, want, sample)),
                      _timed({**base, "impl": "sqhw triton int8"}, ours,
                             lambda: _exact_check(ours(), a, b, want, sample))]
        progress(f"gpu matmul {shape} 2:4")
        values, positions, dense = _random_2to4(m, k, gen)
        want = dense.double() @ b.double()
        packed = triton_matmul.Packed2to4(values, positions, k)
        base = {"shape": shape, "pattern": "2:4"}
        try:
            compressed = torch._cslt_compress(dense)
            cslt = lambda: torch._cslt_sparse_mm(compressed, b, out_dtype=torch.int32)  # noqa: E731
            shape_rows.append(_timed({**base, "impl": "torch._cslt_sparse_mm (cuSPARSELt)"},
                                     cslt, lambda: _exact_check(cslt(), dense, b, want, sample)))
        except Exception as exc:
            shape_rows.append({**base, "impl": "torch._cslt_sparse_mm (cuSPARSELt)",
                               "error": f"{type(exc).__name__}: {exc}"})
        sparse = lambda: triton_matmul.nm_matmul_2to4(packed, b)  # noqa: E731
        shape_rows.append(_timed({**base, "impl": "sqhw triton int8 2:4"}, sparse,
                                 lambda: _exact_check(sparse(), dense, b, want, sample)))
        _kernel_times(shape_rows)  # while this shape's tensors are the ones the calls use
        rows += shape_rows
        del want, dense
        torch.cuda.empty_cache()
    for key, ops, ratio in (("seconds", "dense_ops_per_s", "vs_cublas_int8"),
                            ("kernel_seconds", "kernel_dense_ops_per_s",
                             "kernel_vs_cublas_int8")):
        cublas = {r["shape"]: r.get(key) for r in rows if r["impl"].startswith("torch._int_mm")}
        for r in rows:
            if key in r:
                m, k, n = map(int, r["shape"].split("x"))
                r[ops] = 2 * m * k * n / r[key]
                if cublas.get(r["shape"]):
                    r[ratio] = cublas[r["shape"]] / r[key]
    return rows


def run(quick: bool = False, progress=None) -> dict:
    """{"machine": ..., "encode": [...], "matmul": [...]}, or {"skipped": "no GPU"}."""
    progress = progress or (lambda message: None)
    machine = gpu_machine()
    if machine is None:
        return {"skipped": "no GPU (torch.cuda.is_available() is false)"}
    n = 1 << 22 if quick else 1 << 25
    shapes = [(1024, 1024, 1024)] if quick else [(1024, 1024, 1024), (4096, 4096, 64),
                                                 (8192, 8192, 8192)]
    return {"machine": machine, "encode_elements": n, "encode": bench_encode(n, progress),
            "matmul": bench_matmul(shapes, progress)}


def _figure(r, key, scale=1.0, fmt="{:.3f}"):
    return fmt.format(r[key] / scale) if key in r else "-"


def report(result: dict) -> str:
    if "skipped" in result:
        return f"GPU: {result['skipped']}"
    m = result["machine"]
    lines = [f"GPU: {m['gpu']} ({m['sms']} SMs, {m['memory_gib']} GiB), driver {m['driver']}, "
             f"CUDA {m['cuda']}, torch {m['torch']}, Triton {m['triton']}",
             "medians; call: a Python call (triton.testing.do_bench), kernel: the same call "
             "replayed as a CUDA graph", f"encode of {result['encode_elements']:,} float32 "
             "values (one code per byte)", "",
             f"{'format':<15} {'implementation':<28} {'Gelem/s':>8} {'of copy BW':>10} "
             f"{'kernel':>7} {'agree':>6}"]
    for r in result["encode"]:
        if "error" in r:
            lines.append(f"{r['format']:<15} {r['impl']:<28} error: {r['error'][:80]}")
            continue
        lines.append(f"{r['format']:<15} {r['impl']:<28} "
                     f"{_figure(r, 'elements_per_s', 1e9, '{:.1f}'):>8} "
                     f"{_figure(r, 'of_copy_bandwidth'):>10} "
                     f"{_figure(r, 'kernel_of_copy_bandwidth'):>7} "
                     f"{_figure(r, 'agree', 1.0, '{:.4f}'):>6}")
    lines += ["", f"{'shape MxKxN':<16} {'pattern':<8} {'implementation':<36} {'TOPS':>7} "
                  f"{'x cuBLAS':>8} {'kernel TOPS':>11} {'x cuBLAS':>8}"]
    for r in result["matmul"]:
        if "error" in r:
            lines.append(f"{r['shape']:<16} {r['pattern']:<8} {r['impl']:<36} "
                         f"error: {r['error'][:80]}")
            continue
        lines.append(f"{r['shape']:<16} {r['pattern']:<8} {r['impl']:<36} "
                     f"{_figure(r, 'dense_ops_per_s', 1e12, '{:.1f}'):>7} "
                     f"{_figure(r, 'vs_cublas_int8', 1.0, '{:.2f}'):>8} "
                     f"{_figure(r, 'kernel_dense_ops_per_s', 1e12, '{:.1f}'):>11} "
                     f"{_figure(r, 'kernel_vs_cublas_int8', 1.0, '{:.2f}'):>8}")
    lines.append("(int8 x int8 -> exact int32, B column-major for all; 2:4 rows count "
                 "dense-equivalent operations; every sqhw row was checked equal to the "
                 "reference first)")
    return "\n".join(lines)
