"""Vectors of MACs and block dots: dot products of random lengths (or whole blocks with their
scale codes), laid out lane-major with index arithmetic, and their expected outputs."""

from __future__ import annotations

import numpy as np

from .. import ref
from ..formats import BlockEncoded, parse
from .vector_set import Vectors, VectorError, elements


def dots(vs: Vectors) -> tuple[np.ndarray, np.ndarray]:
    """(first term, number of terms) of every dot product of a mac / block vector set."""
    ends = np.flatnonzero(vs.inputs["last"]) + 1
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    return starts, ends - starts


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices of every range [start, start + length), concatenated (no Python loop)."""
    starts, lengths = np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))


def mac_expected(manifest, p, vs):
    """The exact sum of each dot's finite products (a NaN/Inf term adds 0, as in the
    hardware), rounded once; special where a term is NaN/Inf, and then the code is
    sqhw.ref.special_code(out)."""
    a_fmt, b_fmt = parse(p["a"]), parse(p["b"])
    a, b = vs.inputs["a"], vs.inputs["b"]
    finite = np.isfinite(a_fmt.table[a]) & np.isfinite(b_fmt.table[b])
    prods = ref.mul(np.where(finite, a, 0), a_fmt, np.where(finite, b, 0), b_fmt)
    csum = np.concatenate([np.zeros(1, dtype=prods.dtype), np.cumsum(prods)])
    ends = np.flatnonzero(vs.inputs["last"]) + 1
    starts = np.concatenate([[0], ends[:-1]])
    acc = csum[ends] - csum[starts]
    bad = np.concatenate([[0], np.cumsum(~finite)])
    special = (bad[ends] - bad[starts]) > 0
    acc_frac = manifest["outputs"]["result"]["payload"]["acc"]["frac_bits"]
    out = parse(p["out"])
    code = ref.requantize(acc, acc_frac, out, rounding=p["rounding"], saturate=p["saturate"])
    code = np.where(special, ref.special_code(out), np.asarray(code, dtype=np.int64))
    return {"code": code.astype(np.int64), "acc": acc, "special": special.astype(np.int64)}


def block_expected(p, vs):
    """Exact element dot * both scales per block (sqhw.ref.block_dot), rounded once; special
    where an element or a scale is NaN/Inf, and then the code is sqhw.ref.special_code(out)."""
    a_fmt, b_fmt = parse(p["a"]), parse(p["b"])
    size = p["block_size"]
    rows = vs.inputs["a"].reshape(-1, size), vs.inputs["b"].reshape(-1, size)
    scales = [vs.inputs[n].reshape(-1, 1) for n in ("sa", "sb")]
    special = np.zeros(rows[0].shape[0], dtype=bool)
    for codes, fmt in ((rows[0], a_fmt.element), (rows[1], b_fmt.element),
                       (scales[0], a_fmt.scale_format), (scales[1], b_fmt.scale_format)):
        special |= ~np.isfinite(fmt.table[codes]).all(axis=1)
    # a special block's value is not used; give it finite codes so the model can run
    ones = [int(f.scale_format.encode(np.array([1.0]))[0]) for f in (a_fmt, b_fmt)]
    rows = [np.where(special[:, None], 0, r) for r in rows]
    scales = [np.where(special[:, None], one, s) for one, s in zip(ones, scales)]
    exact = ref.block_dot(BlockEncoded(rows[0], scales[0], 1.0), a_fmt,
                          BlockEncoded(rows[1], scales[1], 1.0), b_fmt)
    out = parse(p["out"])
    code = ref.requantize(exact.ints, exact.frac_bits, out, rounding=p["rounding"],
                          saturate=p["saturate"])
    code = np.where(special, ref.special_code(out), np.asarray(code, dtype=np.int64).ravel())
    return {"code": code.astype(np.int64), "special": special.astype(np.int64)}


def generate_mac(manifest, rng, total, group, all_pairs) -> Vectors:
    """Dot products in groups of `group` (one per lane) of equal, random lengths; with
    all_pairs every pair of finite element codes appears in some dot product."""
    p = manifest["parameters"]
    block = "block_size" in p
    a_fmt, b_fmt = elements(p)
    fa = np.flatnonzero(np.isfinite(a_fmt.table))
    fb = np.flatnonzero(np.isfinite(b_fmt.table))
    per_lane = -(-total // group)
    a = rng.choice(fa, size=(group, per_lane))
    b = rng.choice(fb, size=(group, per_lane))
    if all_pairs:  # every pair, spread over the lanes in a random order
        pa, pb = np.meshgrid(fa, fb, indexing="ij")
        order = rng.permutation(pa.size)
        a.reshape(-1)[:order.size] = pa.ravel()[order]
        b.reshape(-1)[:order.size] = pb.ravel()[order]
    if block:
        size = p["block_size"]
        per_lane -= per_lane % size
        if per_lane == 0:
            raise VectorError(f"--vectors: a block dot takes {size} terms per block and "
                              f"{group} blocks at once: ask for at least {size * group}")
        a, b = a[:, :per_lane], b[:, :per_lane]
        lengths = [size] * (per_lane // size)
    else:
        lengths, left = [], per_lane
        while left:
            n = int(min(rng.integers(1, p["max_length"] + 1), left))
            lengths.append(n)
            left -= n
    lengths = np.array(lengths, dtype=np.int64)
    # dot order: group j (terms [ends[j] - lengths[j], ends[j]) of each lane), lane-minor
    dot_lengths = np.repeat(lengths, group)
    dot_starts = np.tile(np.arange(group) * per_lane, lengths.size) + np.repeat(
        np.cumsum(lengths) - lengths, group)
    index = ranges(dot_starts, dot_lengths)  # into the (group, per_lane) arrays, flattened
    flat_a, flat_b = a.reshape(-1)[index], b.reshape(-1)[index]
    last = np.zeros(flat_a.size, dtype=np.int64)
    last[np.cumsum(dot_lengths) - 1] = 1
    inputs = {"a": flat_a, "b": flat_b, "last": last}
    mode = "every element-code pair in random dot products" if all_pairs else "random"
    if block:
        scale_fmt = parse(p["a"]).scale_format
        for name in ("sa", "sb"):
            inputs[name] = scales(scale_fmt, dot_lengths.size, rng)
        note = "scales mostly near 1.0, the scale format's extremes mixed in"
    else:
        note = f"dot products of 1..{p['max_length']} terms"
    vs = Vectors("block" if block else "mac", inputs, {}, mode, group=group, notes=[note])
    vs.expected = block_expected(p, vs) if block else mac_expected(manifest, p, vs)
    vs.count = int(flat_a.size)
    return vs


def scales(fmt, count, rng) -> np.ndarray:
    """Scale codes: mostly near 1.0, with the extremes of the format mixed in."""
    finite = np.flatnonzero(np.isfinite(fmt.table) & (fmt.table > 0))
    one = int(fmt.encode(np.array([1.0]))[0])
    near = np.clip(one + rng.integers(-24, 25, count), finite.min(), finite.max())
    extreme = rng.choice(finite, count)
    return np.where(rng.random(count) < 0.2, extreme, near)
