"""numpy in, numpy out; torch in, torch out -- without importing torch up front."""

from __future__ import annotations

import numpy as np

# float64 holds every integer of at most this magnitude (and not 2**53 + 1)
EXACT_INTEGER_LIMIT = 2 ** (np.finfo(np.float64).nmant + 1)


def is_torch(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def as_float64(x, arg: str = "x"):
    """Return (float64 ndarray, restore) where restore turns an ndarray back into x's kind.

    float16/float32/bfloat16 widen to float64 exactly, so encoding sees the input's exact value;
    integers beyond 2**53 would not, and are refused.
    """
    if is_torch(x):
        import torch

        t = x.detach().cpu()
        if not (t.dtype.is_floating_point or t.dtype in (torch.int8, torch.int16, torch.int32,
                                                          torch.int64, torch.uint8)):
            raise TypeError(f"{arg}: expected a real-valued tensor, got dtype {t.dtype}")
        if not t.dtype.is_floating_point:
            refuse_inexact_integers(t.numpy(), arg)
        arr = t.to(torch.float64).numpy()

        def restore(a: np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(a))

        return arr, restore
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{arg}: expected real numbers, got an array of dtype {arr.dtype}")
    refuse_inexact_integers(arr, arg)
    with np.errstate(invalid="ignore"):  # a signalling float32 NaN widens to a quiet NaN
        return arr.astype(np.float64, copy=False), (lambda a: a)


def refuse_inexact_integers(arr: np.ndarray, arg: str = "x") -> None:
    """Refuse integer arrays with values that float64 cannot hold (magnitude above 2**53)."""
    if arr.dtype.kind not in "iu" or arr.dtype.itemsize < 8 or not arr.size:
        return  # 32-bit integers and narrower all fit
    outside = arr > EXACT_INTEGER_LIMIT
    if arr.dtype.kind == "i":
        outside |= arr < -EXACT_INTEGER_LIMIT
    if outside.any():
        raise ValueError(f"{arg}: integer inputs must have magnitude at most 2**53 (float64 holds "
                         f"them exactly); got {int(outside.sum())} beyond it, the first "
                         f"{int(arr[outside].flat[0])}")


def as_codes(codes, bits: int, arg: str = "codes"):
    """Return (int64 ndarray of codes, restore). Codes outside [0, 2**bits) are refused."""
    if is_torch(codes):
        import torch

        t = codes.detach().cpu()
        if t.dtype.is_floating_point or t.dtype.is_complex:
            raise TypeError(f"{arg}: expected integer codes, got dtype {t.dtype}")
        arr = t.to(torch.int64).numpy()

        def restore(a: np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(a))

    else:
        arr = np.asarray(codes)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{arg}: expected integer codes, got an array of dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)

        def restore(a: np.ndarray):
            return a

    if arr.size and (arr.min() < 0 or arr.max() >= (1 << bits)):
        raise ValueError(f"{arg}: codes must lie in [0, {1 << bits}) for a {bits}-bit format, "
                         f"got values in [{arr.min()}, {arr.max()}]")
    return arr, restore


def code_dtype(bits: int):
    """Smallest unsigned numpy dtype that holds a `bits`-bit code."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if bits <= np.iinfo(dtype).bits:
            return dtype
    raise ValueError(f"codes of {bits} bits are not supported (at most 32)")
