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
    >>> a, b = (_signed(vs.inputs[n], 4) for n in "ab")
    >>> bool((vs.expected["p"] == a * b).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import ref
from ..formats import BlockEncoded, Fixed, parse
from ..sparsity import NM

DEFAULT_EXHAUSTIVE = 1 << 16  # input spaces checked whole by default: every pair of 8-bit codes
MAX_EXHAUSTIVE = 1 << 24      # the largest input space --exhaustive runs
DEFAULT_COUNT = {"mul": 100_000, "cvt": 100_000, "mac": 100_000, "block": 100_000,
                 "chain": 256}
MAX_COUNT = {"mul": 1 << 24, "cvt": 1 << 24, "mac": 10**7, "block": 10**7, "chain": 1 << 16}
UNIT = {"mul": "input pairs", "cvt": "input codes", "mac": "terms", "block": "terms",
        "chain": "outputs"}
TESTBENCH = {"mul": "tb_mul", "cvt": "tb_cvt", "mac": "tb_mac", "block": "tb_mac",
             "chain": "tb_dsp_chain"}
MAX_CHAIN_K = 4096  # a chain check streams K <= this (the design's max_k when smaller)


class VectorError(ValueError):
    """A request that the design's inputs cannot satisfy (CLI exit status 2)."""


@dataclass
class Vectors:
    """Inputs and expected outputs of one design; see the module docstring.

    `ends` (mac, block): the index after each dot product's last term; `group`: dot products
    come in groups of this many with equal lengths (one per harness lane), 1 for a replay;
    `nm` (chain): the run-time pattern."""

    kind: str
    inputs: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]
    mode: str = "random"
    count: int = 0
    group: int = 1
    nm: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Number of vectors (units of work that are compared: pairs, codes, dots, outputs)."""
        ins = self.inputs
        if self.kind in ("mac", "block"):
            return int(np.count_nonzero(ins["last"]))
        if self.kind == "chain":
            return int(ins["w"].shape[0] * ins["x"].shape[1])
        return int(next(iter(ins.values())).size)


def kind(manifest: dict) -> str:
    """mul, cvt, mac, block or chain (what picks the testbench and the vector shape)."""
    k = manifest.get("kind")
    if k == "mac":
        return "block" if "block_size" in manifest.get("parameters", {}) else "mac"
    if k == "dsp_chain":
        return "chain"
    if k in ("mul", "cvt"):
        return k
    raise VectorError(f"kind: sqhw verifies mul, cvt, mac and dsp_chain designs, got {k!r}")


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
        a, b = _elements(p)
        return int(np.isfinite(a.table).sum()) * int(np.isfinite(b.table).sum())
    return None


def _elements(p: dict):
    a, b = parse(p["a"]), parse(p["b"])
    return (a.element, b.element) if hasattr(a, "element") else (a, b)


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
        return _chain(manifest, rng, count or DEFAULT_COUNT[k], nm)
    if k in ("mac", "block"):
        total = count or DEFAULT_COUNT[k]
        if exhaustive:
            total = max(total, space)
        return _mac(manifest, rng, total, group, exhaustive)
    codes = _all_inputs(manifest, k, rng) if exhaustive else _random_inputs(
        manifest, k, rng, count or DEFAULT_COUNT[k])
    vs = Vectors(k, codes, {}, "exhaustive" if exhaustive else "random")
    _add_runtime_inputs(manifest, vs, rng)
    vs.expected = expected(manifest, vs)
    vs.count = vs.size
    return vs


def _power(n: int) -> str:
    return f"2**{n.bit_length() - 1}" if n & (n - 1) == 0 else str(n)


def _all_inputs(manifest, k, rng) -> dict[str, np.ndarray]:
    if k == "mul":
        a_bits, b_bits = (parse(manifest["inputs"][n]["format"]).bits for n in ("a", "b"))
        a, b = np.meshgrid(np.arange(1 << a_bits), np.arange(1 << b_bits), indexing="ij")
        order = rng.permutation(a.size)  # lanes see mixed pairs
        return {"a": a.ravel()[order], "b": b.ravel()[order]}
    codes = np.arange(1 << parse(manifest["inputs"]["i"]["format"]).bits)
    rng.shuffle(codes)
    return {"i": codes}


def _random_inputs(manifest, k, rng, count) -> dict[str, np.ndarray]:
    names = ("a", "b") if k == "mul" else ("i",)
    return {n: rng.integers(0, 1 << parse(manifest["inputs"][n]["format"]).bits, count)
            for n in names}


def _add_runtime_inputs(manifest, vs, rng) -> None:
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


def _signed(values: np.ndarray, width: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    return np.where(values >= 1 << (width - 1), values - (1 << width), values)


def expected(manifest: dict, vs: Vectors) -> dict[str, np.ndarray]:
    """sqhw.ref's outputs for the inputs of vs (any inputs: generated, or read back from a
    failures file for a replay)."""
    p, ins = manifest.get("parameters", {}), vs.inputs
    if vs.kind == "mul":
        a_fmt, b_fmt = (parse(manifest["inputs"][n]["format"]) for n in ("a", "b"))
        a, b = ins["a"], ins["b"]
        finite = np.isfinite(a_fmt.table[a]) & np.isfinite(b_fmt.table[b])
        want = np.zeros(a.size, dtype=object)
        want[finite] = ref.mul(a[finite], a_fmt, b[finite], b_fmt)
        return {"p": _narrow(want), "special": (~finite).astype(np.int64)}
    if vs.kind == "cvt":
        return _cvt_expected(manifest, p, ins)
    if vs.kind == "mac":
        return _mac_expected(manifest, p, vs)
    if vs.kind == "block":
        return _block_expected(p, vs)
    return _chain_expected(manifest, p, vs)


def _narrow(values: np.ndarray) -> np.ndarray:
    """int64 when every value fits, else the object array as it is."""
    if values.dtype == object and all(-(1 << 62) <= int(v) < 1 << 62 for v in values.ravel()):
        return values.astype(np.int64)
    return values


def _cvt_expected(manifest, p, ins):
    src, dst = parse(p["from"]), parse(p["to"])
    codes = ins["i"]
    if not isinstance(src, Fixed):  # minifloat -> its exact fixed view
        finite = np.isfinite(src.table[codes])
        want = np.zeros(codes.size, dtype=np.int64)
        want[finite] = ref.to_ints(codes[finite], src)
        return {"o": want, "special": (~finite).astype(np.int64)}
    ints = src.to_int(codes)
    if "dyadic_shift" in p:
        zero_point = _signed(ins["zero_point"], dst.bits + 1)
        return {"o": ref.requantize_dyadic(ints, ins["m"], p["dyadic_shift"], dst,
                                           zero_point=zero_point, rounding=p["rounding"],
                                           saturate=p["saturate"])}
    return {"o": ref.requantize(ints, src.frac_bits, dst, rounding=p["rounding"],
                                saturate=p["saturate"], random=ins.get("random"),
                                random_bits=p.get("random_bits", 16))}


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


def _mac_expected(manifest, p, vs):
    a_fmt, b_fmt = parse(p["a"]), parse(p["b"])
    prods = ref.mul(vs.inputs["a"], a_fmt, vs.inputs["b"], b_fmt)
    csum = np.concatenate([np.zeros(1, dtype=prods.dtype), np.cumsum(prods)])
    ends = np.flatnonzero(vs.inputs["last"]) + 1
    starts = np.concatenate([[0], ends[:-1]])
    acc = csum[ends] - csum[starts]
    acc_frac = manifest["outputs"]["result"]["payload"]["acc"]["frac_bits"]
    code = ref.requantize(acc, acc_frac, parse(p["out"]), rounding=p["rounding"],
                          saturate=p["saturate"])
    return {"code": np.asarray(code, dtype=np.int64), "acc": acc,
            "special": np.zeros(ends.size, dtype=np.int64)}


def _block_expected(p, vs):
    """Exact element dot * both scales per block (sqhw.ref.block_dot), rounded once."""
    a_fmt, b_fmt = parse(p["a"]), parse(p["b"])
    size = p["block_size"]
    rows = vs.inputs["a"].reshape(-1, size), vs.inputs["b"].reshape(-1, size)
    sa, sb = (vs.inputs[n].reshape(-1, 1) for n in ("sa", "sb"))
    exact = ref.block_dot(BlockEncoded(rows[0], sa, 1.0), a_fmt,
                          BlockEncoded(rows[1], sb, 1.0), b_fmt)
    code = ref.requantize(exact.ints, exact.frac_bits, parse(p["out"]),
                          rounding=p["rounding"], saturate=p["saturate"])
    return {"code": np.asarray(code, dtype=np.int64).ravel(),
            "special": np.zeros(rows[0].shape[0], dtype=np.int64)}


def _mac(manifest, rng, total, group, all_pairs) -> Vectors:
    """Dot products in groups of `group` (one per lane) of equal, random lengths; with
    all_pairs every pair of finite element codes appears in some dot product."""
    p = manifest["parameters"]
    block = "block_size" in p
    a_fmt, b_fmt = _elements(p)
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
            inputs[name] = _scales(scale_fmt, dot_lengths.size, rng)
        note = "scales mostly near 1.0, the scale format's extremes mixed in"
    else:
        note = f"dot products of 1..{p['max_length']} terms"
    vs = Vectors("block" if block else "mac", inputs, {}, mode, group=group, notes=[note])
    vs.expected = expected(manifest, vs)
    vs.count = int(flat_a.size)
    return vs


def _scales(fmt, count, rng) -> np.ndarray:
    """Scale codes: mostly near 1.0, with the extremes of the format mixed in."""
    finite = np.flatnonzero(np.isfinite(fmt.table) & (fmt.table > 0))
    one = int(fmt.encode(np.array([1.0]))[0])
    near = np.clip(one + rng.integers(-24, 25, count), finite.min(), finite.max())
    extreme = rng.choice(finite, count)
    return np.where(rng.random(count) < 0.2, extreme, near)


def chain_patterns(manifest: dict) -> list[str]:
    return list(manifest["parameters"]["runtime_patterns"])


def _chain(manifest, rng, count, nm) -> Vectors:
    p = manifest["parameters"]
    pattern = NM.parse(nm or p.get("nm") or chain_patterns(manifest)[-1])
    if str(pattern) not in chain_patterns(manifest):
        raise VectorError(f"--nm: {manifest['top']} runs {', '.join(chain_patterns(manifest))}"
                          f" (m = {p['m']}, chain {p['chain']}), got {pattern}")
    w_fmt, x_fmt = parse(p["w"]), parse(p["x"])
    k = min(p["max_k"], MAX_CHAIN_K)
    w = w_fmt.encode(pattern.prune(rng.standard_normal((count, k)) * 40), saturate=True)
    x = rng.choice(np.flatnonzero(np.isfinite(x_fmt.table)), (k, 1))
    vs = Vectors("chain", {"w": w.astype(np.int64), "x": x.astype(np.int64)}, {}, "random",
                 nm=str(pattern), notes=[f"random N:M-pruned W ({count} x {k}) @ x for each "
                                         "run-time pattern"])
    vs.expected = expected(manifest, vs)
    vs.count = vs.size
    return vs


def _chain_expected(manifest, p, vs):
    w_fmt, x_fmt = parse(p["w"]), parse(p["x"])
    acc = ref.sparse_matmul(NM.parse(vs.nm).pack(vs.inputs["w"], w_fmt), vs.inputs["x"], x_fmt)
    acc_field = manifest["outputs"]["result"]["payload"]["acc"]
    code = ref.requantize(acc, acc_field["frac_bits"], parse(p["out"]), rounding=p["rounding"],
                          saturate=p["saturate"])
    return {"acc": acc.ravel(), "code": np.asarray(code, dtype=np.int64).ravel()}


def mismatches(vs: Vectors, got: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean per vector: any output differs from the expected one."""
    bad = np.zeros(vs.size, dtype=bool)
    for name, want in vs.expected.items():
        have = np.asarray(got[name]).ravel()
        if have.shape != want.shape:
            raise RuntimeError(f"{name}: {have.size} results for {want.size} vectors")
        bad |= np.array([int(g) != int(w) for g, w in zip(have, want)], dtype=bool) \
            if have.dtype == object or want.dtype == object else have != want
    return bad


def records(vs: Vectors, indices, got: dict[str, np.ndarray] | None = None) -> list[dict]:
    """Vectors as JSON-ready dicts {index, inputs, want[, got]} (inputs as port values)."""
    out = []
    starts, lengths = dots(vs) if vs.kind in ("mac", "block") else (None, None)
    for i in indices:
        i = int(i)
        if starts is not None:
            s = slice(int(starts[i]), int(starts[i] + lengths[i]))
            ins = {"a": vs.inputs["a"][s].tolist(), "b": vs.inputs["b"][s].tolist()}
            ins.update({n: int(vs.inputs[n][i]) for n in ("sa", "sb") if n in vs.inputs})
        elif vs.kind == "chain":
            row, col = divmod(i, vs.inputs["x"].shape[1])
            ins = {"nm": vs.nm, "row": row, "col": col,
                   "w": vs.inputs["w"][row].tolist(), "x": vs.inputs["x"][:, col].tolist()}
        else:
            ins = {n: int(v[i]) for n, v in vs.inputs.items()}
        row = {"index": i, "inputs": ins, "want": {n: int(v[i]) for n, v in vs.expected.items()}}
        if got is not None:
            row["got"] = {n: int(np.asarray(v).ravel()[i]) for n, v in got.items()}
        out.append(row)
    return out


def from_records(manifest: dict, rows: list[dict], where: str = "records") -> Vectors:
    """The vectors of `records` output (a failures file) with their expected outputs
    recomputed from sqhw.ref: a replay never trusts a stored expectation."""
    k = kind(manifest)
    if not isinstance(rows, list) or not rows or not all(
            isinstance(r, dict) and isinstance(r.get("inputs"), dict) for r in rows):
        raise VectorError(f"{where}: expected a non-empty list of {{inputs: ...}} vectors")
    try:
        if k == "chain":
            vs = _chain_from(rows)
        elif k in ("mac", "block"):
            a = [np.asarray(r["inputs"]["a"], dtype=np.int64) for r in rows]
            b = [np.asarray(r["inputs"]["b"], dtype=np.int64) for r in rows]
            last = np.concatenate([np.arange(x.size) == x.size - 1 for x in a]).astype(np.int64)
            inputs = {"a": np.concatenate(a), "b": np.concatenate(b), "last": last}
            if k == "block":
                inputs.update({n: np.array([r["inputs"][n] for r in rows], dtype=np.int64)
                               for n in ("sa", "sb")})
            vs = Vectors(k, inputs, {})
        else:
            names = list(rows[0]["inputs"])
            vs = Vectors(k, {n: np.array([r["inputs"][n] for r in rows], dtype=np.int64)
                             for n in names}, {})
        _check_codes(manifest, vs, where)
        vs.mode, vs.expected = "replay", expected(manifest, vs)
    except (KeyError, TypeError, ValueError) as err:
        raise VectorError(f"{where}: not vectors of {manifest['top']} ({err})") from None
    vs.count = vs.size if k not in ("mac", "block") else int(vs.inputs["a"].size)
    return vs


def _chain_from(rows) -> Vectors:
    """A chain replay: the failing rows of W and columns of X (every pair of them is run)."""
    patterns = {r["inputs"]["nm"] for r in rows}
    if len(patterns) != 1:
        raise ValueError(f"one pattern per replay, got {sorted(patterns)}")
    w_rows = {r["inputs"]["row"]: r["inputs"]["w"] for r in rows}
    x_cols = {r["inputs"]["col"]: r["inputs"]["x"] for r in rows}
    w = np.array([w_rows[i] for i in sorted(w_rows)], dtype=np.int64)
    x = np.array([x_cols[j] for j in sorted(x_cols)], dtype=np.int64).T
    return Vectors("chain", {"w": w, "x": x}, {}, nm=patterns.pop())


def _check_codes(manifest, vs, where) -> None:
    """Every input must fit its port (a replay file may have been edited by hand)."""
    widths = {port["name"]: port["width"] for port in manifest["ports"]}
    for name, values in vs.inputs.items():
        width = _input_width(manifest, vs.kind, name, widths)
        if values.size and (values.min() < 0 or values.max() >= 1 << width):
            raise VectorError(f"{where}: input {name}: codes must lie in [0, 2**{width})")


def _input_width(manifest, k, name, widths) -> int:
    if k in ("mul", "cvt"):
        return widths[name]
    if name == "last":
        return 1
    if k == "chain":
        return parse(manifest["parameters"]["w" if name == "w" else "x"]).bits
    payload = manifest["inputs"]["terms"]["payload"]
    return payload[name]["width"]


def save(vs: Vectors, path, expected_too: bool = True) -> None:
    """vs as an .npz: in_<port>, want_<output> (decimal strings where a value passes 62
    bits, so no pickle is needed) and meta (JSON: kind, mode, count, group, nm, notes)."""
    import json

    arrays = {f"in_{n}": v for n, v in vs.inputs.items()}
    if expected_too:
        arrays.update({f"want_{n}": v.astype(str) if v.dtype == object else v
                       for n, v in vs.expected.items()})
    meta = {"kind": vs.kind, "mode": vs.mode, "count": vs.count, "group": vs.group,
            "nm": vs.nm, "notes": vs.notes}
    with open(path, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(meta)), **arrays)


def load(path) -> Vectors:
    """The Vectors `save` wrote."""
    import json

    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        inputs = {n[3:]: data[n] for n in data.files if n.startswith("in_")}
        want = {n[5:]: _from_text(data[n]) for n in data.files if n.startswith("want_")}
    return Vectors(meta["kind"], inputs, want, meta["mode"], meta["count"], meta["group"],
                   meta["nm"], meta["notes"])


def _from_text(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "U":
        return np.array([int(v) for v in values.ravel()], dtype=object).reshape(values.shape)
    return values
