"""`sqhw vectors`: golden vectors for a vendor simulator, as .npz and $readmemh hex.

FILE.npz holds the vectors as sqhw.verify.vectors.save writes them (in_<port>, want_<output>,
meta). FILE.in.hex / FILE.out.hex hold one word per line, the input words a testbench drives
and the output words it must see, in order; a `//` header gives the bit fields (lowest bit
first) and how the words pair up:
- mul / cvt: line i of .in.hex is vector i's input ports side by side, line i of .out.hex
  its outputs, `latency` cycles later;
- mac / block dot: .in.hex is the `terms` stream (one payload per accepted beat), .out.hex
  the `result` stream (one payload per dot product);
- chain: .in.hex is the pair {weights payload, acts payload} of each beat (both streams
  advance together), .out.hex the `result` stream; n_log2 is held at the value in the header.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..paths import write_text
from ..sparsity import NM
from . import streams
from .vectors import UNIT, Vectors, dots, save


def outputs_of(stem: Path) -> list[Path]:
    """The files `write` creates for -o FILE (FILE's .npz suffix is optional)."""
    return [stem.with_name(stem.name + suffix) for suffix in (".npz", ".in.hex", ".out.hex")]


def _fields(manifest: dict, names: list[str], direction: str) -> list[tuple[str, int]]:
    """(port, width) of the named ports, in the manifest's port order."""
    ports = {p["name"]: p["width"] for p in manifest["ports"] if p["direction"] == direction}
    return [(n, ports[n]) for n in ports if n in names]


def _concat(columns: list[tuple[np.ndarray, int]]) -> list[int]:
    """Side-by-side words: the first column at bit 0."""
    count = len(columns[0][0])
    words, at = [0] * count, 0
    for values, width in columns:
        mask = (1 << width) - 1
        for i, v in enumerate(np.asarray(values).ravel()):
            words[i] |= (int(v) & mask) << at
        at += width
    return words


def _layout(fields: list[tuple[str, int]]) -> str:
    parts, at = [], 0
    for name, width in fields:
        parts.append(f"{name}[{at + width - 1}:{at}]")
        at += width
    return " ".join(parts)


def _hex(words: list[int], width: int, header: list[str]) -> str:
    digits = max(1, -(-width // 4))
    return "".join(f"// {line}\n" for line in header) + "".join(
        f"{w:0{digits}x}\n" for w in words)


def streams_of(manifest: dict, vs: Vectors) -> tuple[list[int], int, str, list[int], int, str,
                                                      list[str]]:
    """(in words, in width, in layout, out words, out width, out layout, notes)."""
    notes = []
    if vs.kind in ("mul", "cvt"):
        ins = _fields(manifest, list(vs.inputs), "in")
        outs = _fields(manifest, list(vs.expected), "out")
        in_words = _concat([(vs.inputs[n], w) for n, w in ins])
        out_words = _concat([(vs.expected[n], w) for n, w in outs])
        notes.append(f"line i of .out.hex is vector i's outputs, {manifest['latency']} cycles "
                     "after its inputs")
        return (in_words, sum(w for _, w in ins), _layout(ins), out_words,
                sum(w for _, w in outs), _layout(outs), notes)
    if vs.kind in ("mac", "block"):
        in_payload = manifest["inputs"]["terms"]["payload"]
        out_payload = manifest["outputs"]["result"]["payload"]
        in_words = streams.mac_terms(manifest, vs.inputs, dots(vs)[1])
        out_words = streams.mac_results(manifest, vs.expected)
        return (in_words, _width(in_payload), _payload_layout(in_payload), out_words,
                _width(out_payload), _payload_layout(out_payload),
                ["terms stream in, result stream out (one result per dot product)"])
    nm = NM.parse(vs.nm)
    from .chain_stimulus import chain_beats  # loads the chain's HDL module

    acts, weights, _ = chain_beats(manifest, vs.inputs["w"], vs.inputs["x"], nm)
    acts_width = _width(manifest["inputs"]["acts"]["payload"])
    weights_width = _width(manifest["inputs"]["weights"]["payload"])
    in_words = [a | (w << acts_width) for a, w in zip(acts, weights)]
    rows, cols = vs.inputs["w"].shape[0], vs.inputs["x"].shape[1]
    out_words = streams.chain_results(manifest, vs.expected["acc"].reshape(rows, cols),
                                      vs.expected["code"].reshape(rows, cols))
    out_payload = manifest["outputs"]["result"]["payload"]
    notes.append(f"pattern {nm}: hold n_log2 = {int(np.log2(nm.n))}; each line is one beat of "
                 "both input streams")
    return (in_words, acts_width + weights_width,
            f"acts[{acts_width - 1}:0] weights[{acts_width + weights_width - 1}:{acts_width}]",
            out_words, _width(out_payload), _payload_layout(out_payload), notes)


def _width(payload: dict) -> int:
    return max(f["offset"] + f["width"] for f in payload.values())


def _payload_layout(payload: dict) -> str:
    return " ".join(f"{n}[{f['offset'] + f['width'] - 1}:{f['offset']}]"
                    for n, f in sorted(payload.items(), key=lambda kv: kv[1]["offset"]))


def write(manifest: dict, vs: Vectors, stem: Path, seed: int) -> list[Path]:
    """Write FILE.npz, FILE.in.hex and FILE.out.hex (each atomically); returns their paths."""
    npz, in_hex, out_hex = outputs_of(stem)
    in_words, in_width, in_layout, out_words, out_width, out_layout, notes = \
        streams_of(manifest, vs)
    header = [f"sqhw vectors of {manifest['top']} ({vs.kind}), seed {seed}, {vs.mode}: "
              f"{vs.size} vectors, {vs.count} {UNIT[vs.kind]}"] + [f"{n}" for n in vs.notes + notes]
    tmp = npz.with_name(f".{npz.name}.tmp")
    try:
        save(vs, tmp)
        tmp.replace(npz)
    finally:
        tmp.unlink(missing_ok=True)
    write_text(in_hex, _hex(in_words, in_width, header + [
        f"{len(in_words)} input words of {in_width} bits: {in_layout}"]))
    write_text(out_hex, _hex(out_words, out_width, header + [
        f"{len(out_words)} expected output words of {out_width} bits: {out_layout}"]))
    return [npz, in_hex, out_hex]
