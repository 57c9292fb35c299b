"""Baselines that compute exactly what sqhw.ref computes, fast: numba_cpu (CPU), triton_gpu
and triton_matmul (Triton kernels on a CUDA GPU; tested under TRITON_INTERPRET=1 on the CPU
where there is none), with bench / bench_gpu behind `sqhw bench`. Import them explicitly:
`from sqhw.baselines import numba_cpu` (this package imports none of them)."""
