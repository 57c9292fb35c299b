"""Times the Triton kernels' tunable choices on a CUDA GPU, one table per kernel, so the
defaults in sqhw.baselines.triton_gpu / triton_matmul can be rechecked on another GPU:
    python scripts/triton_tune.py [encode] [overhead] [matmul [small]]
Element encode: BLOCK x num_warps; int8 matmul: every autotune config, beside the
autotuned wrapper and torch._int_mm."""

import torch
from triton.testing import do_bench

from sqhw.baselines import triton_gpu, triton_matmul
from sqhw.formats import parse


def ms(fn):
    return do_bench(fn, warmup=25, rep=100, return_mode="median")


def host_overhead_table():
    """encode of a format without NaN reads a NaN flag back (a device sync): its fixed cost
    shows as the gap between sizes."""
    for n in (1 << 23, 1 << 25, 1 << 27):
        x = torch.randn(n, device="cuda")
        copy = torch.empty_like(x)
        base = ms(lambda: copy.copy_(x))
        for name in ("float8_e4m3fn", "float4_e2m1fn"):
            fmt = parse(name)
            t = ms(lambda: triton_gpu.encode(x, fmt))
            print(f"n=2^{n.bit_length() - 1} {name:<14} {t * 1e3:8.1f} us = "
                  f"{5 / 8 * base / t:.3f} of copy")


def encode_table(n=1 << 25):
    x = torch.randn(n, device="cuda")
    copy = torch.empty_like(x)
    base = ms(lambda: copy.copy_(x))
    print(f"copy of {n} float32: {base * 1e3:.1f} us")
    defaults = triton_gpu.BLOCK, triton_gpu.NUM_WARPS
    try:
        for name in ("float8_e4m3fn", "float4_e2m1fn"):
            fmt = parse(name)
            for block in (1024, 2048, 4096, 8192):
                for warps in (4, 8, 16):
                    triton_gpu.BLOCK, triton_gpu.NUM_WARPS = block, warps
                    t = ms(lambda: triton_gpu.encode(x, fmt))
                    print(f"{name:<14} BLOCK {block:>5} warps {warps:>2}: {t * 1e3:7.1f} us, "
                          f"{5 * n / t / 1e9:6.0f} GB/s = {5 / 8 * base / t:.3f} of copy")
    finally:  # the tables after this one time the defaults, not the last setting tried
        triton_gpu.BLOCK, triton_gpu.NUM_WARPS = defaults


def matmul_table(shapes=((1024, 1024, 1024), (4096, 4096, 64), (8192, 8192, 8192))):
    for m, k, n in shapes:
        a = torch.randint(-128, 128, (m, k), device="cuda", dtype=torch.int8)
        b = torch.randint(-128, 128, (n, k), device="cuda", dtype=torch.int8).t()
        ops = 2 * m * k * n
        cublas = ops / ms(lambda: torch._int_mm(a, b)) / 1e9
        tuned = ops / ms(lambda: triton_matmul.matmul_int8(a, b)) / 1e9
        print(f"{m}x{k}x{n}: torch._int_mm {cublas:.0f} TOPS, matmul_int8 {tuned:.0f} TOPS")
        kernel = triton_matmul._int8_dot_kernel
        print(f"  autotune chose {kernel.best_config}; its timings (ms):")
        for c, t in sorted(kernel.configs_timings.items(), key=lambda item: item[1][0]):
            print(f"    {t[0] * 1e3:7.1f} us  {c}")
        out = torch.empty((m, n), dtype=torch.int32, device="cuda")
        for c in triton_matmul._dot_configs():
            grid = (-(-m // c.kwargs["BM"]) * -(-n // c.kwargs["BN"]),)

            def run(c=c, grid=grid):
                triton_matmul._int8_dot_kernel.fn[grid](
                    a, b, out, m, n, k, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                    out.stride(0), out.stride(1), num_warps=c.num_warps,
                    num_stages=c.num_stages, **c.kwargs)
            print(f"  {ops / ms(run) / 1e9:6.0f} TOPS with {c}")


if __name__ == "__main__":
    import sys

    parts = sys.argv[1:] or ["encode", "overhead", "matmul"]
    if "encode" in parts:
        encode_table()
    if "overhead" in parts:
        host_overhead_table()
    if "matmul" in parts:
        matmul_table(((1024, 1024, 1024), (4096, 4096, 64)) if "small" in parts else
                     ((1024, 1024, 1024), (4096, 4096, 64), (8192, 8192, 8192)))
