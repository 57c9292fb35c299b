"""The Python side of the sweep program (sqhw.verify.sweep): the inputs its harness gives each
vector, the outputs sqhw.ref expects for them, written as the files the program compares
with (`sweep.want_files`), and the listed mismatches read back as integers.

Expected values come from sqhw.ref: sqhw.verify.vectors.expected, or for products of 64
bits or more the exact integers of sqhw.ref.integer_table, as (odd, shift) pairs.

    >>> manifest = {"top": "m", "inputs": {"a": {"format": "int8"}, "b": {"format": "int8"}}}
    >>> odd, shift, special = wide_products(manifest, np.array([0xF4]), np.array([3]), 64)
    >>> int(odd[0]), int(shift[0]), int(special[0])  # -12 * 3 = -9 * 2**2
    (-9, 2, 0)
"""

from __future__ import annotations

import functools

import numpy as np

from .. import ref
from ..formats import parse
from ..manifest import port_width
from . import sweep
from .streams import words

CHUNK = 1 << 20  # vectors computed at a time (bounds memory on 16.7 M-vector sweeps)


def stimulus_word(v: np.ndarray, seed: int, salt: int, width: int) -> np.ndarray:
    """The run-time word of vector v: the top `width` bits of ((v ^ seed ^ salt*2**24) *
    HASH) mod 2**32, as the harness computes it."""
    key = (np.asarray(v, dtype=np.uint64) ^ np.uint64((seed ^ (salt << 24)) & 0xFFFFFFFF))
    h = (key * np.uint64(sweep.HASH)) & np.uint64(0xFFFFFFFF)
    return (h >> np.uint64(32 - width)).astype(np.int64)


def sweep_inputs(manifest: dict, seed: int, v: np.ndarray) -> dict[str, np.ndarray]:
    """The inputs (port values) the harness gives vectors v."""
    v = np.asarray(v, dtype=np.int64)
    inputs, at = {}, sweep.space_bits(manifest)
    for name, bits in sweep.code_inputs(manifest):
        at -= bits
        inputs[name] = (v >> at) & ((1 << bits) - 1)
    for salt, (name, width) in enumerate(sweep.word_inputs(manifest), start=1):
        inputs[name] = stimulus_word(v, seed, salt, width)
    return inputs


def expected_values(manifest: dict, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """sqhw.ref's outputs for the inputs, as integers (Python ints past 62 bits)."""
    from .vectors import Vectors, expected

    return expected(manifest, Vectors(manifest["kind"], inputs, {}))


def write_expected(prefix: str, k: int, manifest: dict, seed: int) -> None:
    """Design k's expected values for its whole input space, as the program reads them:
    PREFIX{k}_{output}.{suffix} per `sweep.want_files`."""
    outs = sweep.outputs(manifest)
    total = 1 << sweep.space_bits(manifest)
    wide = [name for name, width, _ in outs if width >= 64]
    if wide and (manifest["kind"] != "mul" or wide != ["p"]):
        raise ValueError(f"{manifest['top']}: outputs of 64 bits or more are checked for "
                         "multiplier products only")
    files = {(name, suffix): open(f"{prefix}{k}_{name}.{suffix}", "wb")
             for name, width, _ in outs for suffix, _ in sweep.want_files(width)}
    try:
        for start in range(0, total, CHUNK):
            stop = min(start + CHUNK, total)
            if wide:
                arrays = _wide_chunk(manifest, start, stop)
            else:
                values = expected_values(manifest, sweep_inputs(manifest, seed,
                                                                np.arange(start, stop)))
                arrays = {(name, "want"): encode_narrow(values[name], width, is_signed)
                          for name, width, is_signed in outs}
            for key, f in files.items():
                arrays[key].tofile(f)
    finally:
        for f in files.values():
            f.close()


def encode_narrow(values: np.ndarray, width: int, is_signed: bool) -> np.ndarray:
    """Values of an output of up to 63 bits as the program compares them (`sweep.want_files`):
    the low `width` bits of their two's complement, 2**width where the port cannot hold the
    value (a misstated design)."""
    low, high = (-(1 << (width - 1)), 1 << (width - 1)) if is_signed else (0, 1 << width)
    dtype = sweep.want_files(width)[0][1]
    if values.dtype == object:  # past 62 bits: Python ints
        return np.array([int(x) & ((1 << width) - 1) if low <= int(x) < high else 1 << width
                         for x in values], dtype=dtype)
    values = np.asarray(values, dtype=np.int64)
    held = (values >= low) & (values < high)
    return np.where(held, values & ((1 << width) - 1), 1 << width).astype(dtype)


def _wide_chunk(manifest: dict, start: int, stop: int) -> dict[tuple[str, str], np.ndarray]:
    """A multiplier's expected p (odd, shift) and special for vectors [start, stop), on the
    grid of a codes x every b code (the harness's order: v = a << b_bits | b)."""
    (_, a_bits), (_, b_bits) = sweep.code_inputs(manifest)
    if start % (1 << b_bits) or stop % (1 << b_bits):
        raise ValueError(f"vectors [{start}, {stop}) are not whole rows of 2**{b_bits} b codes")
    a = np.arange(start >> b_bits, stop >> b_bits)[:, None]
    b = np.arange(1 << b_bits)[None, :]
    odd, shift, special = wide_products(manifest, a, b, port_width(manifest, "p"))
    return {("p", "want"): odd.reshape(-1), ("p", "shift"): shift.reshape(-1),
            ("special", "want"): special.reshape(-1)}


@functools.lru_cache(maxsize=None)
def _odd_parts(fmt) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every code's exact integer (sqhw.ref.integer_table) as odd << zeros, odd signed (0 for
    NaN / Inf codes; int32), zeros (int16); which codes are finite; and the bits each value
    takes (its magnitude below 2**top)."""
    finite = np.isfinite(fmt.table)
    table = [int(t) if f else 0 for t, f in zip(ref.integer_table(fmt), finite)]
    zeros = [(abs(t) & -abs(t)).bit_length() - 1 if t else 0 for t in table]
    odd = [t >> z for t, z in zip(table, zeros)]  # exact: the low z bits are zero
    if max(abs(o) for o in odd).bit_length() > 31 or max(zeros) >= 1 << 14:
        raise ValueError(f"{fmt.name}: significands past 31 bits or exponents past 2**14")
    top = [abs(t).bit_length() for t in table]
    return (np.array(odd, dtype=np.int32), np.array(zeros, dtype=np.int16), finite,
            np.array(top, dtype=np.int64))


def wide_products(manifest: dict, a: np.ndarray, b: np.ndarray, width: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact products a * b of sqhw.ref's integers (a and b broadcast) as (odd, shift):
    value = odd * 2**shift, odd int32, shift int16 (UNHELD where a signed `width`-bit port
    cannot hold the value), 0 where an operand is NaN/Inf; and special (uint8, 1 there):
    the multiplier's p and special (`sweep.want_files`)."""
    a_fmt, b_fmt = (parse(manifest["inputs"][n]["format"]) for n in ("a", "b"))
    (oa, za, fa, ta), (ob, zb, fb, tb) = _odd_parts(a_fmt), _odd_parts(b_fmt)
    big_a, big_b = int(np.abs(oa.astype(np.int64)).max()), int(np.abs(ob.astype(np.int64)).max())
    if (big_a * big_b).bit_length() > 31:
        raise ValueError(f"{manifest['top']}: products of significands past 31 bits")
    odd = oa[a] * ob[b]  # exact in int32 (the bound above); 0 where either is NaN / Inf
    shift = za[a] + zb[b]
    if int(ta[a].max()) + int(tb[b].max()) >= width:  # some value may not fit: look closer
        magnitude = np.where(odd < 0, ~odd, odd).astype(np.int64)
        room = np.maximum(width - 1 - shift.astype(np.int64), 0)
        shift = np.where((magnitude >> np.minimum(room, 63)) != 0, sweep.UNHELD, shift)
    special = (~(fa[a] & fb[b])).astype(np.uint8)
    return odd, shift.astype(np.int16), special


def read_listed(path, manifest: dict) -> tuple[np.ndarray, dict[str, list[int]]]:
    """The program's listed mismatches: (vector indices, per output the values that came out,
    as integers, signed where the output is)."""
    outs = sweep.outputs(manifest)
    raw = np.fromfile(path, dtype=np.uint8)
    size = sweep.listed_bytes(manifest)
    if raw.size % size:
        raise RuntimeError(f"{path}: {raw.size} bytes, not whole records of {size}")
    raw = raw.reshape(-1, size)
    index = raw[:, :8].copy().view("<u8").reshape(-1).astype(np.int64)
    got, at = {}, 8
    for name, width, is_signed in outs:
        n = 4 * words(width)
        values = []
        for row in raw[:, at:at + n]:
            value = int.from_bytes(row.tobytes(), "little") & ((1 << width) - 1)
            values.append(value - (1 << width) if is_signed and value >> (width - 1) else value)
        got[name] = values
        at += n
    return index, got
