"""Vectors of the datapath designs: multipliers (every pair of a and b, or random pairs) and
converters / requantizers (every input code; m, zero_point and random words drawn at random)."""

from __future__ import annotations

import numpy as np

from .. import ref
from ..formats import Fixed, parse
from .vector_set import signed_values


def all_inputs(manifest, k, rng) -> dict[str, np.ndarray]:
    if k == "mul":
        a_bits, b_bits = (parse(manifest["inputs"][n]["format"]).bits for n in ("a", "b"))
        a, b = np.meshgrid(np.arange(1 << a_bits), np.arange(1 << b_bits), indexing="ij")
        order = rng.permutation(a.size)  # lanes see mixed pairs
        return {"a": a.ravel()[order], "b": b.ravel()[order]}
    codes = np.arange(1 << parse(manifest["inputs"]["i"]["format"]).bits)
    rng.shuffle(codes)
    return {"i": codes}


def random_inputs(manifest, k, rng, count) -> dict[str, np.ndarray]:
    names = ("a", "b") if k == "mul" else ("i",)
    return {n: rng.integers(0, 1 << parse(manifest["inputs"][n]["format"]).bits, count)
            for n in names}


def add_runtime_inputs(manifest, vs, rng) -> None:
    """cvt's run-time inputs: m and zero_point (dyadic), the random word (stochastic)."""
    p, n = manifest.get("parameters", {}), vs.inputs[next(iter(vs.inputs))].size
    if vs.kind != "cvt":
        return
    if "dyadic_shift" in p:
        dst = parse(p["to"])
        vs.inputs["m"] = rng.integers(0, 1 << p["multiplier_bits"], n)
        vs.inputs["zero_point"] = rng.integers(-8, 9, n) & ((1 << (dst.bits + 1)) - 1)
        vs.notes.append("m and zero_point drawn at random per vector")
    elif p.get("rounding") == "stochastic":
        vs.inputs["random"] = rng.integers(0, 1 << p["random_bits"], n)
        vs.notes.append("the random word drawn at random per vector")


def mul_expected(manifest, ins):
    """p (0 where an operand is NaN/Inf) and special, from sqhw.ref.mul."""
    a_fmt, b_fmt = (parse(manifest["inputs"][n]["format"]) for n in ("a", "b"))
    a, b = ins["a"], ins["b"]
    finite = np.isfinite(a_fmt.table[a]) & np.isfinite(b_fmt.table[b])
    fits = ref.product_format(a_fmt, b_fmt).bits <= 62  # ref.mul gives int64 then
    want = np.zeros(a.size, dtype=np.int64 if fits else object)
    want[finite] = ref.mul(a[finite], a_fmt, b[finite], b_fmt)
    return {"p": want if fits else narrow(want), "special": (~finite).astype(np.int64)}


def narrow(values: np.ndarray) -> np.ndarray:
    """int64 when every value fits, else the object array as it is."""
    if values.dtype == object and all(-(1 << 62) <= int(v) < 1 << 62 for v in values.ravel()):
        return values.astype(np.int64)
    return values


def cvt_expected(manifest, p, ins):
    src, dst = parse(p["from"]), parse(p["to"])
    codes = ins["i"]
    if not isinstance(src, Fixed):  # minifloat -> its exact fixed view
        finite = np.isfinite(src.table[codes])
        want = np.zeros(codes.size, dtype=np.int64)
        want[finite] = ref.to_ints(codes[finite], src)
        return {"o": want, "special": (~finite).astype(np.int64)}
    ints = src.to_int(codes)
    if "dyadic_shift" in p:
        zero_point = signed_values(ins["zero_point"], dst.bits + 1)
        return {"o": ref.requantize_dyadic(ints, ins["m"], p["dyadic_shift"], dst,
                                           zero_point=zero_point, rounding=p["rounding"],
                                           saturate=p["saturate"])}
    return {"o": ref.requantize(ints, src.frac_bits, dst, rounding=p["rounding"],
                                saturate=p["saturate"], random=ins.get("random"),
                                random_bits=p.get("random_bits", 16))}
