"""Pack numpy lanes into the wide integers a harness port takes, and back (no per-lane loop)."""

from __future__ import annotations

import numpy as np


def pack(values: np.ndarray, width: int) -> list[int]:
    """(batches, lanes) integers (two's complement allowed) -> one int per batch."""
    values = np.asarray(values)
    if values.dtype == object:
        mask = (1 << width) - 1
        return [sum((int(v) & mask) << (i * width) for i, v in enumerate(row)) for row in values]
    bits = (values.astype(np.int64)[..., None] >> np.arange(width)) & 1
    flat = bits.reshape(values.shape[0], -1).astype(np.uint8)
    packed = np.packbits(flat, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def unpack(words: list[int], lanes: int, width: int, signed: bool = False) -> np.ndarray:
    """One int per batch -> (batches, lanes) values (int64, or Python ints past 62 bits)."""
    if width > 62:
        mask = (1 << width) - 1
        out = np.array([[(w >> (i * width)) & mask for i in range(lanes)] for w in words],
                       dtype=object)
        return np.where(out >= (1 << (width - 1)), out - (1 << width), out) if signed else out
    nbytes = (lanes * width + 7) // 8
    raw = np.frombuffer(b"".join(w.to_bytes(nbytes, "little") for w in words), dtype=np.uint8)
    bits = np.unpackbits(raw.reshape(len(words), nbytes), axis=1, bitorder="little")
    bits = bits[:, :lanes * width].reshape(len(words), lanes, width).astype(np.int64)
    values = (bits << np.arange(width)).sum(axis=-1)
    if signed:
        values = np.where(values >= (1 << (width - 1)), values - (1 << width), values)
    return values
