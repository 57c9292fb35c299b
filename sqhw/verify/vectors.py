"""Golden vectors of a generated design: inputs drawn from its manifest's formats, expected
outputs from sqhw.ref. Pure numpy (no simulator): the sim/ testbenches drive them, `sqhw
verify` compares what came back, `sqhw vectors` writes them for a vendor simulator.

A vector is one input of the design's own unit of work:
- mul / cvt: one input code per port (a, b; i with m, zero_point or random where the design
  has them) -> the outputs (p, special; o, special);
- mac: one dot product, its terms a, b with `last` on the final one -> code, acc, special;
- block: one block dot (block_size terms and the scale codes sa, sb) -> code, special;
- chain: one output of W (rows, K) @ X (K, cols) under a run-time N:M pattern -> acc, code.
Inputs are port values (unsigned codes, as driven); expected values are signed where the
port is. `count` is what the CLI's --vectors counts: input vectors, MAC terms, chain outputs.

    >>> vs = generate({"kind": "mul", "top": "m", "inputs": {"a": {"format": "int4"},
    ...                                                 "b": {"format": "int4"}}}, seed=1)
    >>> vs.mode, vs.count  # every pair of two 4-bit codes
    ('exhaustive', 256)
    >>> a, b = (signed_values(vs.inputs[n], 4) for n in "ab")
    >>> bool((vs.expected["p"] == a * b).all())
    True
"""

from __future__ import annotations

import numpy as np

from ..formats import parse
from .chain_vectors import MAX_CHAIN_K, chain_expected, chain_patterns, generate_chain
from .datapath_vectors import (add_runtime_inputs, all_inputs, cvt_expected, mul_expected,
                               random_inputs)
from .mac_vectors import block_expected, dots, generate_mac, mac_expected, ranges
from .vector_files import load, save
from .vector_set import VectorError, Vectors, elements, kind, signed_values

__all__ = ["DEFAULT_COUNT", "DEFAULT_EXHAUSTIVE", "MAX_CHAIN_K", "MAX_COUNT", "MAX_EXHAUSTIVE",
           "TESTBENCH", "UNIT", "VectorError", "Vectors", "chain_patterns", "describe", "dots",
           "expected", "generate", "input_space", "kind", "load", "ranges", "save"]

DEFAULT_EXHAUSTIVE = 1 << 16  # input spaces checked whole by default: every pair of 8-bit codes
MAX_EXHAUSTIVE = 1 << 24      # the largest input space --exhaustive runs
DEFAULT_COUNT = {"mul": 100_000, "cvt": 100_000, "mac": 100_000, "block": 100_000,
                 "chain": 256}
MAX_COUNT = {"mul": 1 << 24, "cvt": 1 << 24, "mac": 10**7, "block": 10**7, "chain": 1 << 16}
UNIT = {"mul": "input pairs", "cvt": "input codes", "mac": "terms", "block": "terms",
        "chain": "outputs"}
# a cocotb module of sim/, or the C++ stream program (sqhw.verify.stream_program)
TESTBENCH = {"mul": "tb_mul", "cvt": "tb_cvt", "mac": "stream_program",
             "block": "stream_program", "chain": "tb_dsp_chain"}


def describe(manifest: dict) -> str:
    """`int8 x int8`, `fixed<s,8,8> -> float8_e4m3fn rne` ...: the design in a few words."""
    p = manifest.get("parameters", {})
    if "a" in p and "b" in p:
        return f"{p['a']} x {p['b']}" + (f" -> {p['out']}" if "out" in p else "")
    if "w" in p:
        return f"{p['w']} x {p['x']} -> {p['out']}, m {p['m']}, {p['lanes']} x {p['chain']}"
    if "from" in p:
        return f"{p['from']} -> {p['to']}" + (f" {p['rounding']}" if "rounding" in p else "")
    return manifest["top"]


def input_space(manifest: dict) -> int | None:
    """How many vectors an exhaustive check has: every input pair (mul), every input code
    (cvt; run-time m, zero_point and random words drawn at random), every pair of finite
    element codes appearing in some dot product (mac, block); None for a chain."""
    k, p = kind(manifest), manifest.get("parameters", {})
    if k == "mul":
        return 1 << sum(parse(manifest["inputs"][n]["format"]).bits for n in ("a", "b"))
    if k == "cvt":
        return 1 << parse(manifest["inputs"]["i"]["format"]).bits
    if k in ("mac", "block"):
        a, b = elements(p)
        return int(np.isfinite(a.table).sum()) * int(np.isfinite(b.table).sum())
    return None


def generate(manifest: dict, seed: int, count: int | None = None,
             exhaustive: bool | None = None, group: int = 16, nm: str | None = None
             ) -> Vectors:
    """The vectors `sqhw verify` checks (and `sqhw vectors` writes) for a design.

    exhaustive None: exhaustive where the input space has at most 2**16 vectors (every pair
    of two 8-bit operands), else `count` random ones (default DEFAULT_COUNT). `group`: MAC
    dot products come in groups of equal length, one per harness lane. `nm`: a chain's
    pattern (default: the manifest's). Raises VectorError for what cannot be done."""
    k = kind(manifest)
    space = input_space(manifest)
    if exhaustive and space is None:
        raise VectorError("--exhaustive: a chain's inputs are matrices, so there is no "
                          "exhaustive set; use --vectors N (outputs to check)")
    if exhaustive and space > MAX_EXHAUSTIVE:
        raise VectorError(f"--exhaustive: {manifest['top']} has {_power(space)} {UNIT[k]}; "
                          f"at most 2**{MAX_EXHAUSTIVE.bit_length() - 1} run exhaustively "
                          "(use --vectors N)")
    if count is not None and not 1 <= count <= MAX_COUNT[k]:
        raise VectorError(f"--vectors: expected 1 to {MAX_COUNT[k]} {UNIT[k]} for a {k} "
                          f"design, got {count}")
    if exhaustive is None:
        exhaustive = count is None and space is not None and space <= DEFAULT_EXHAUSTIVE
    rng = np.random.default_rng(seed)
    if k == "chain":
        return generate_chain(manifest, rng, count or DEFAULT_COUNT[k], nm)
    if k in ("mac", "block"):
        total = count or DEFAULT_COUNT[k]
        if exhaustive:
            total = max(total, space)
        return generate_mac(manifest, rng, total, group, exhaustive)
    codes = all_inputs(manifest, k, rng) if exhaustive else random_inputs(
        manifest, k, rng, count or DEFAULT_COUNT[k])
    vs = Vectors(k, codes, {}, "exhaustive" if exhaustive else "random")
    add_runtime_inputs(manifest, vs, rng)
    vs.expected = expected(manifest, vs)
    vs.count = vs.size
    return vs


def _power(n: int) -> str:
    return f"2**{n.bit_length() - 1}" if n & (n - 1) == 0 else str(n)


def expected(manifest: dict, vs: Vectors) -> dict[str, np.ndarray]:
    """sqhw.ref's outputs for the inputs of vs (any inputs: generated, or read back from a
    failures file for a replay)."""
    p, ins = manifest.get("parameters", {}), vs.inputs
    if vs.kind == "mul":
        return mul_expected(manifest, ins)
    if vs.kind == "cvt":
        return cvt_expected(manifest, p, ins)
    if vs.kind == "mac":
        return mac_expected(manifest, p, vs)
    if vs.kind == "block":
        return block_expected(p, vs)
    return chain_expected(manifest, p, vs)
