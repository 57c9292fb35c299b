"""Stream payload words of the streaming designs (mac, block dot, N:M chain), laid out as
their manifests say: what the testbenches drive and what `sqhw vectors` writes."""

from __future__ import annotations

import numpy as np

from ..formats import parse


def _element_columns(payload: dict, values: dict[str, np.ndarray]):
    """Every element of the named fields as a scalar field: ({name: {offset, width}},
    {name: (rows,) codes}, rows). values[name] holds (rows,) codes, or (rows, ...) for an
    array field (the manifest's `count` elements of `bits` each, in its `shape` order);
    element i sits at offset + i * bits."""
    fields, columns, rows = {}, {}, None
    for name, column in values.items():
        f = payload[name]
        count = f.get("count", 1)
        column = np.asarray(column)
        if column.ndim == 0:
            raise ValueError(f"payload field {name}: expected a value per row, got one scalar")
        per_row = int(np.prod(column.shape[1:], dtype=np.int64))
        if per_row != count:
            raise ValueError(f"payload field {name}: {per_row} values per row, the manifest "
                             f"says {count}")
        if rows is not None and column.shape[0] != rows:
            raise ValueError(f"payload field {name}: {column.shape[0]} rows, the fields "
                             f"before it have {rows}")
        rows = column.shape[0]
        column = column.reshape(rows, count)
        bits = f.get("bits", f["width"])
        for i in range(count):
            key = name if count == 1 else f"{name}[{i}]"
            fields[key] = {"offset": f["offset"] + i * bits, "width": bits}
            columns[key] = column[:, i]
    return fields, columns, rows or 0


def _masked(column: np.ndarray, bits: int) -> np.ndarray:
    """The low `bits` (<= 62) of every code, as int64 (Python ints of any size too)."""
    mask = (1 << bits) - 1
    if column.dtype == object:
        return np.array([int(v) & mask for v in column], dtype=np.int64)
    return column.astype(np.int64) & mask


def fields_word(payload: dict, values: dict[str, np.ndarray]) -> list[int]:
    """One payload word per row (Python ints, so payloads of any width work): every named
    field at its manifest offset, masked to its width; an array field's element i at
    offset + i * bits (see `_element_columns`). Words of up to 62 bits are built as int64,
    wider ones from `payload_words`' uint32 words when no element passes 62 bits, else
    one Python int at a time."""
    fields, columns, rows = _element_columns(payload, values)
    if not fields:
        raise ValueError("payload: no fields to pack")
    top = max(f["offset"] + f["width"] for f in fields.values())
    if top <= 62:
        word = np.zeros(rows, dtype=np.int64)
        for name, f in fields.items():
            word |= _masked(columns[name], f["width"]) << f["offset"]
        return word.tolist()
    if all(f["width"] <= 62 for f in fields.values()):
        packed = payload_words(fields, {name: _masked(columns[name], f["width"])
                                        for name, f in fields.items()}, top)
        return [int.from_bytes(row.tobytes(), "little") for row in packed.astype("<u4")]
    words = [0] * rows
    for name, f in fields.items():
        mask = (1 << f["width"]) - 1
        for r, v in enumerate(columns[name]):
            words[r] |= (int(v) & mask) << f["offset"]
    return words


def words(width: int) -> int:
    """uint32 words of a `width`-bit value, lowest first: in the stream program's files, the
    sweep program's listed mismatches and DPI's svBitVecVal."""
    return -(-width // 32)


def payload_words(payload: dict, values: dict[str, np.ndarray], width: int) -> np.ndarray:
    """`fields_word` as a (rows, words(width)) uint32 array, lowest word first (the stream
    program's files); fields of up to 64 bits."""
    count = len(next(iter(values.values())))
    out = np.zeros((count, words(width) + 1), dtype=np.uint64)  # a spare for the last carry
    for name, column in values.items():
        f = payload[name]
        if f["width"] > 64 or f["offset"] + f["width"] > width:
            raise ValueError(f"payload field {name}: {f['width']} bits at {f['offset']} do "
                             f"not fit a {width}-bit payload of fields up to 64 bits")
        v = np.asarray(column).astype(np.int64).astype(np.uint64)
        for i in range(0, f["width"], 32):
            n = min(32, f["width"] - i)
            chunk = (v >> np.uint64(i)) & np.uint64((1 << n) - 1)
            word, shift = divmod(f["offset"] + i, 32)
            out[:, word] |= (chunk << np.uint64(shift)) & np.uint64(0xFFFFFFFF)
            if shift:
                out[:, word + 1] |= chunk >> np.uint64(32 - shift)
    return out[:, :words(width)].astype(np.uint32)


def field_values(words: np.ndarray, offset: int, width: int, signed: bool = False
                 ) -> np.ndarray:
    """A field of (rows, n) uint32 payload words (lowest word first): int64 values, or
    Python ints (object array) past 62 bits; two's complement read as signed if `signed`."""
    words = np.asarray(words, dtype=np.uint64)
    padded = np.concatenate([words, np.zeros((words.shape[0], 1), dtype=np.uint64)], axis=1)
    chunks = []
    for i in range(0, width, 32):
        n = min(32, width - i)
        word, shift = divmod(offset + i, 32)
        pair = padded[:, word] | (padded[:, word + 1] << np.uint64(32))
        chunks.append((pair >> np.uint64(shift)) & np.uint64((1 << n) - 1))
    if width <= 62:
        value = np.zeros(words.shape[0], dtype=np.int64)
        for i, chunk in enumerate(chunks):
            value |= chunk.astype(np.int64) << (32 * i)
        return np.where(value >= 1 << (width - 1), value - (1 << width), value) if signed \
            else value
    value = np.zeros(words.shape[0], dtype=object)
    for i, chunk in enumerate(chunks):
        value = value + (chunk.astype(object) << (32 * i))
    if signed:
        value = np.array([v - (1 << width) if v >> (width - 1) else v for v in value],
                         dtype=object)
    return value


def mac_term_values(inputs: dict[str, np.ndarray], lengths) -> dict[str, np.ndarray]:
    """The `terms` payload fields of one stream of dot products (`lengths`: terms per dot);
    a block dot's scale codes go with every term of their block (the unit samples them with
    the last)."""
    values = {"a": inputs["a"], "b": inputs["b"], "last": inputs["last"]}
    if "sa" in inputs:
        values.update({n: np.repeat(inputs[n], lengths) for n in ("sa", "sb")})
    return values


def mac_terms(manifest: dict, inputs: dict[str, np.ndarray], lengths) -> list[int]:
    """`terms` payload words of one stream of dot products (see `mac_term_values`)."""
    payload = manifest["inputs"]["terms"]["payload"]
    return fields_word(payload, mac_term_values(inputs, lengths))


def mac_results(manifest: dict, expected: dict[str, np.ndarray]) -> list[int]:
    """`result` payload words of the expected outputs, one per dot product."""
    payload = manifest["outputs"]["result"]["payload"]
    return fields_word(payload, {n: v for n, v in expected.items() if n in payload})


def result_order(manifest: dict, fields: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """A chain's result fields (beats, lanes * pack), in the order of `chain_stimulus.chain_beats`, as the
    (rows, cols) outputs they hold: beat i, entry q * lanes + l is row (i % blocks) * lanes + l
    of column (i // blocks) * pack + q."""
    p = manifest["parameters"]
    lanes, pack = p["lanes"], p.get("pack", 1)
    padded = -(-rows // lanes) * lanes
    groups = -(-cols // pack)
    by_beat = np.asarray(fields).reshape(groups, padded // lanes, pack, lanes)
    return by_beat.transpose(1, 3, 0, 2).reshape(padded, groups * pack)[:rows, :cols]


def chain_results(manifest: dict, acc: np.ndarray, code: np.ndarray) -> list[int]:
    """Expected `result` words of a chain for outputs (rows, cols), in the order of
    `chain_beats` (zero rows padding the last block expect 0 and code(0))."""
    p = manifest["parameters"]
    lanes, pack = p["lanes"], p.get("pack", 1)
    out = manifest["outputs"]["result"]["payload"]
    rows, cols = acc.shape
    padded = -(-rows // lanes) * lanes
    padded_cols = -(-cols // pack) * pack
    out_fmt = parse(p["out"])
    zero_code = int(out_fmt.encode(np.zeros(1))[0])
    acc_p = np.zeros((padded, padded_cols), dtype=acc.dtype)
    code_p = np.full((padded, padded_cols), zero_code, dtype=np.int64)
    acc_p[:rows, :cols], code_p[:rows, :cols] = acc, code
    words = []
    for j in range(0, padded_cols, pack):
        for r0 in range(0, padded, lanes):
            word = 0
            for q in range(pack):
                for lane in range(lanes):
                    entry = q * lanes + lane
                    for name, value in (("code", code_p[r0 + lane, j + q]),
                                        ("acc", acc_p[r0 + lane, j + q]), ("special", 0)):
                        f = out[name]
                        word |= (int(value) & ((1 << f["bits"]) - 1)) << (f["offset"] +
                                                                          entry * f["bits"])
            words.append(word)
    return words
