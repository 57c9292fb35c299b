"""Triton, imported once for the GPU baselines: without a CUDA device TRITON_INTERPRET=1 is
set first, so the kernels run (slowly) in Triton's interpreter on the CPU."""

from __future__ import annotations

import os

import torch

ON_GPU = torch.cuda.is_available()
if not ON_GPU:
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402  (after TRITON_INTERPRET is decided)
import triton.language as tl  # noqa: E402

__all__ = ["ON_GPU", "autotune", "device", "tl", "triton"]


def device() -> torch.device:
    return torch.device("cuda" if ON_GPU else "cpu")


def autotune(gpu_configs, cpu_config, key, **kwargs):
    """triton.autotune over `gpu_configs` on a GPU; the one small `cpu_config` in the
    interpreter, where timing configurations would only cost time."""
    return triton.autotune(configs=gpu_configs if ON_GPU else [cpu_config], key=key, **kwargs)
