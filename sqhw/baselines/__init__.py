"""Baselines that compute exactly what sqhw.ref computes, fast: numba_cpu (CPU) and
triton_gpu (GPU; tested under TRITON_INTERPRET=1 on the CPU). Import them explicitly:
`from sqhw.baselines import numba_cpu` (this package imports neither)."""
