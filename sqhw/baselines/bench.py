"""`sqhw bench`: the Numba path beside ml_dtypes, torch and a memcpy, in one run, and on a
CUDA GPU the Triton rows of sqhw.baselines.bench_gpu.

Every CPU figure is a best-of-`repeats` wall time on the same data in the same process; the
ratios are what to read (these machines are shared and noisy)."""

from __future__ import annotations

import os
import platform
import sys
import time

import numpy as np


def _best(fn, repeats: int) -> float:
    fn()  # warm-up: compilation, page faults
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def machine() -> dict:
    import numba

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "numba": numba.__version__}
    for name in ("torch", "ml_dtypes"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    return {"cpu": cpu, "cores": os.cpu_count(), "numba_threads": numba.get_num_threads(),
            "platform": platform.platform(), "versions": versions}


def bench_encode(n: int, repeats: int, progress) -> list[dict]:
    from ..formats import parse
    from . import numba_cpu

    rng = np.random.default_rng(0)
    x = rng.standard_normal(n, dtype=np.float32)
    copy = np.empty_like(x)
    rows = []
    memcpy_t = _best(lambda: np.copyto(copy, x), repeats)
    rows.append({"format": "-", "impl": "memcpy (float32 bytes)", "seconds": memcpy_t})
    try:
        import ml_dtypes
    except ImportError:
        ml_dtypes = None
    try:
        import torch
    except ImportError:
        torch = None
    for name in ("float8_e4m3fn", "float4_e2m1fn", "mxfp4", "nvfp4"):
        progress(f"encode {name}")
        fmt = parse(name)
        xx = x.reshape(-1, 64) if name.startswith(("mx", "nv")) else x  # rows of 2-4 blocks
        rows.append({"format": name, "impl": "sqhw numba",
                     "seconds": _best(lambda: numba_cpu.encode(xx, fmt), repeats)})
        rows.append({"format": name, "impl": "sqhw numpy",
                     "seconds": _best(lambda: fmt.encode(xx), max(1, repeats // 3))})
        if ml_dtypes is not None and hasattr(ml_dtypes, name):
            target = getattr(ml_dtypes, name)
            rows.append({"format": name, "impl": "ml_dtypes astype",
                         "seconds": _best(lambda: x.astype(target), repeats)})
        if torch is not None and name == "float8_e4m3fn":
            t = torch.from_numpy(x)
            rows.append({"format": name, "impl": "torch .to(float8_e4m3fn)",
                         "seconds": _best(lambda: t.to(torch.float8_e4m3fn), repeats)})
    for r in rows:
        r["elements_per_s"] = n / r["seconds"]
        r["vs_memcpy"] = memcpy_t / r["seconds"]
    return rows


def bench_matmul(shapes, repeats: int, progress) -> list[dict]:
    from ..formats import parse
    from ..sparsity import NM
    from . import numba_cpu

    try:
        import torch
    except ImportError:
        torch = None
    rng = np.random.default_rng(1)
    rows = []
    x_fmt = parse("int8")
    for (m, k, n) in shapes:
        macs = m * k * n
        x = rng.integers(0, 256, (k, n))
        for w_name in ("int8", "float8_e4m3fn"):
            w_fmt = parse(w_name)
            w_real = rng.standard_normal((m, k)) * 8
            w = w_fmt.encode(w_real, saturate=True)
            progress(f"matmul {m}x{k}x{n} {w_name} dense")
            dense = _best(lambda: numba_cpu.matmul(w, w_fmt, x, x_fmt), repeats)
            rows.append({"shape": f"{m}x{k}x{n}", "w": w_name, "impl": "numba dense",
                         "seconds": dense, "base": dense})
            for pattern in ("2:4", "1:4"):
                progress(f"matmul {m}x{k}x{n} {w_name} {pattern}")
                nm = NM.parse(pattern)
                packed = nm.pack(w_fmt.encode(nm.prune(w_real), saturate=True), w_fmt)
                t = _best(lambda: numba_cpu.nm_matmul(packed, x, x_fmt), repeats)
                rows.append({"shape": f"{m}x{k}x{n}", "w": w_name, "impl": f"numba {pattern}",
                             "seconds": t, "base": dense})
            if torch is not None and w_name == "int8":
                a = torch.from_numpy(w_fmt.decode(w).astype(np.float32))
                b = torch.from_numpy(x_fmt.decode(x).astype(np.float32))
                progress(f"matmul {m}x{k}x{n} torch float32")
                rows.append({"shape": f"{m}x{k}x{n}", "w": "int8 as float32",
                             "impl": "torch matmul", "base": dense,
                             "seconds": _best(lambda: torch.matmul(a, b), repeats)})
        for r in rows:
            if r["shape"] == f"{m}x{k}x{n}":
                r["dense_macs_per_s"] = macs / r["seconds"]
    for r in rows:  # against the dense Numba kernel of the same shape and weight format
        r["vs_numba_dense"] = r.pop("base") / r["seconds"]
    return rows


def bench_exact_linear(size: int, repeats: int, progress) -> list[dict]:
    """sqhw.ptq's exact engine (codes -> exact integer products and sums, scales applied
    after) on a size^3 linear layer, beside torch's float32 matmul of the same shape."""
    try:
        import torch

        from ..ptq import exact
        from ..ptq.config import QuantSpec
        from ..ptq.quantizer import quantize_weight
    except ImportError:
        return []
    rng = np.random.default_rng(2)
    x_real = rng.standard_normal((size, size))
    w_real = rng.standard_normal((size, size))
    a, b = torch.from_numpy(x_real.astype(np.float32)), torch.from_numpy(w_real.astype(np.float32))
    progress(f"exact linear {size}^3 torch float32")
    base = _best(lambda: a @ b.T, repeats)
    rows = [{"impl": "torch float32 matmul", "format": "float32", "seconds": base}]
    for name in ("int8", "float8_e4m3fn"):
        spec = QuantSpec(name)
        qx, qw = quantize_weight(x_real, spec), quantize_weight(w_real, spec)
        progress(f"exact linear {size}^3 {name}")
        rows.append({"impl": "sqhw exact engine", "format": name,
                     "seconds": _best(lambda: exact.linear(qx, qw), repeats)})
    for r in rows:
        r["shape"] = f"{size}x{size}x{size}"
        r["macs_per_s"] = size ** 3 / r["seconds"]
        r["vs_torch_fp32"] = base / r["seconds"]
    return rows


def run(quick: bool = False, progress=None, gpu_only: bool = False) -> dict:
    """The CPU rows and the GPU rows ("gpu": {"skipped": "no GPU ..."} without one)."""
    from . import bench_gpu

    progress = progress or (lambda message: None)
    if gpu_only:
        return {"gpu": bench_gpu.run(quick, progress)}
    n = 1_000_000 if quick else 10_000_000  # both multiples of 64 (whole blocks)
    shapes = [(256, 256, 256)] if quick else [(1024, 1024, 1024), (4096, 4096, 64)]
    repeats = 3
    return {"machine": machine(), "repeats": repeats, "encode_elements": n,
            "encode": bench_encode(n, repeats, progress),
            "matmul": bench_matmul(shapes, repeats, progress),
            "exact_linear": bench_exact_linear(256 if quick else 1024, repeats, progress),
            "gpu": bench_gpu.run(quick, progress)}


def report(result: dict) -> str:
    from . import bench_gpu

    gpu = bench_gpu.report(result["gpu"]) if "gpu" in result else None
    if "machine" not in result:  # --gpu-only
        return gpu or ""
    m = result["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, numba threads {m['numba_threads']}; "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
             f"best of {result['repeats']} after a warm-up; encode of "
             f"{result['encode_elements']:,} float32 values", "",
             f"{'format':<15} {'implementation':<26} {'Melem/s':>9} {'x memcpy':>9}"]
    for r in result["encode"]:
        lines.append(f"{r['format']:<15} {r['impl']:<26} {r['elements_per_s'] / 1e6:>9.1f} "
                     f"{r['vs_memcpy']:>9.3f}")
    lines += ["", f"{'shape MxKxN':<16} {'w':<14} {'implementation':<14} {'GMAC/s':>8} "
                  f"{'x numba dense':>14}"]
    for r in result["matmul"]:
        lines.append(f"{r['shape']:<16} {r['w']:<14} {r['impl']:<14} "
                     f"{r['dense_macs_per_s'] / 1e9:>8.2f} {r['vs_numba_dense']:>14.2f}")
    lines.append("(sparse rows count dense-equivalent MACs; torch multiplies float32 copies)")
    if result.get("exact_linear"):
        lines += ["", f"{'shape MxKxN':<16} {'codes':<14} {'implementation':<22} {'GMAC/s':>8} "
                      f"{'x torch fp32':>13}"]
        for r in result["exact_linear"]:
            lines.append(f"{r['shape']:<16} {r['format']:<14} {r['impl']:<22} "
                         f"{r['macs_per_s'] / 1e9:>8.2f} {r['vs_torch_fp32']:>13.2f}")
        lines.append("(the exact engine: float32/float64 BLAS on exact integers, K chunked so "
                     "every partial sum stays exact)")
    if gpu is not None:
        lines += ["", gpu]
    return "\n".join(lines)


def main_progress(message: str) -> None:
    print(f"\r{message:<60}", end="", file=sys.stderr, flush=True)
