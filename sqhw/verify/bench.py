"""Shared parts of the cocotb testbenches in sim/: parameters from the environment, a lanes
driver for pipelined datapaths, the result file that pytest reads back, and the given
vectors of `sqhw verify` (SQHW_VECTORS in, SQHW_GOT out).

Runs inside the simulator process (imports cocotb)."""

from __future__ import annotations

import json
import os
import time

import numpy as np

from ..manifest import port_width
from .lanes import pack, unpack


def parameters() -> tuple[list[dict], int, int]:
    """(manifests, lanes, seed); the seed comes from SQHW_SEED and is printed for replay."""
    with open(os.environ["SQHW_MANIFESTS"]) as f:
        manifests = json.load(f)
    seed = int(os.environ.get("SQHW_SEED", "1234"))
    print(f"SQHW_SEED={seed}")
    return manifests, int(os.environ["SQHW_LANES"]), seed


def given_vectors():
    """The Vectors `sqhw verify` asked for (SQHW_VECTORS), or None in a plain test run."""
    from .vector_files import load

    path = os.environ.get("SQHW_VECTORS")
    return load(path) if path else None


def write_got(got: dict[str, np.ndarray]) -> None:
    """What the design produced, per output, for the host to compare (SQHW_GOT, .npz;
    values past 62 bits as decimal strings)."""
    arrays = {n: (np.asarray(v).astype(str) if np.asarray(v).dtype == object else np.asarray(v))
              for n, v in got.items()}
    with open(os.environ["SQHW_GOT"], "wb") as f:
        np.savez(f, **arrays)


def read_got(path) -> dict[str, np.ndarray]:
    from .vector_files import from_text

    with np.load(path, allow_pickle=False) as data:
        return {n: from_text(data[n]) for n in data.files}


def output_signedness(manifest: dict) -> dict[str, bool]:
    """Output port -> signed, from the manifest (codes are unsigned)."""
    return {name: bool(spec.get("signed", False)) for name, spec in manifest["outputs"].items()}


async def drive_vectors(dut, manifests: list[dict], lanes: int, sets: list
                        ) -> list[dict[str, np.ndarray]]:
    """Run datapath vector sets (mul, cvt), one per design, lanes vectors per cycle; returns
    each design's outputs, one value per vector. A replay runs its few vectors one per cycle
    on every lane (lane 0 of the waveform shows them in order)."""
    batches = max(-(-vs.size // lanes) if vs.mode != "replay" else vs.size for vs in sets)
    inputs = []
    for vs in sets:
        if vs.mode == "replay":
            inputs.append({n: np.resize(np.repeat(v[:, None], lanes, axis=1), (batches, lanes))
                           for n, v in vs.inputs.items()})
        else:
            inputs.append({n: spread(v, lanes, batches) for n, v in vs.inputs.items()})
    outputs = [output_signedness(m) for m in manifests]
    results = await run_datapath(dut, manifests, lanes, inputs, outputs)
    got = []
    for vs, out in zip(sets, results):
        if vs.mode == "replay":
            got.append({n: v[:vs.size, 0] for n, v in out.items()})
        else:
            got.append({n: v.ravel()[:vs.size] for n, v in out.items()})
    return got


async def datapath_given(dut) -> None:
    """The `given` test of a datapath testbench: run SQHW_VECTORS on the one design, write
    what came out (the host compares it) and the tally."""
    manifests, lanes, _ = parameters()
    tally = Tally()
    vs = given_vectors()
    (got,) = await drive_vectors(dut, manifests[:1], lanes, [vs])
    write_got(got)
    tally.compare(vs, got)
    tally.write("given")


def spread(values: np.ndarray, lanes: int, batches: int) -> np.ndarray:
    """Lay a 1-D vector set out as (batches, lanes), repeating it to fill the rest."""
    total = batches * lanes
    return np.resize(values, total).reshape(batches, lanes)


def start_clock(dut):
    from cocotb.clock import Clock

    Clock(dut.clk, 2, "ns").start()


async def run_datapath(dut, manifests: list[dict], lanes: int,
                       inputs: list[dict[str, np.ndarray]], outputs: list[dict[str, bool]]
                       ) -> list[dict[str, np.ndarray]]:
    """Drive every design at once, one batch of (batches, lanes) inputs per cycle.

    inputs[k] / outputs[k] belong to design k (outputs: port name -> signed?); all designs
    take the same number of batches. The outputs read at the falling edge max(latency, 1)
    cycles after a batch was written belong to that batch (latency from each manifest).
    """
    from cocotb.triggers import FallingEdge

    from .harness import port_name

    batches = next(iter(inputs[0].values())).shape[0]
    words, handles_in, handles_out, delays, widths = {}, {}, {}, {}, {}
    for k, manifest in enumerate(manifests):
        for name, values in inputs[k].items():
            if values.shape[0] != batches:
                raise ValueError(f"design {k} port {name}: {values.shape[0]} batches, "
                                 f"expected {batches}")
            words[(k, name)] = pack(values, port_width(manifest, name))
            handles_in[(k, name)] = getattr(dut, port_name(k, name))
        for name in outputs[k]:
            handles_out[(k, name)] = getattr(dut, port_name(k, name))
            delays[(k, name)] = max(manifest["latency"], 1)
            widths[(k, name)] = port_width(manifest, name)
    delay = max(delays.values())
    collected = {key: [] for key in handles_out}
    dut.rst.value = 0
    start_clock(dut)
    await FallingEdge(dut.clk)
    for j in range(batches + delay):
        for key, handle in handles_out.items():
            if delays[key] <= j < batches + delays[key]:
                collected[key].append(handle.value.to_unsigned())
        if j < batches:
            for key, handle in handles_in.items():
                handle.value = words[key][j]
        await FallingEdge(dut.clk)
    return [{name: unpack(collected[(k, name)], lanes, widths[(k, name)], signed)
             for name, signed in outputs[k].items()} for k in range(len(manifests))]


class Tally:
    """Counts checked vectors and mismatches, times the run, writes SQHW_RESULT."""

    def __init__(self):
        self.vectors = 0
        self.mismatches = 0
        self.examples: list = []
        self.start = time.perf_counter()
        self.extra: dict = {}

    def check(self, got: np.ndarray, want: np.ndarray, context: np.ndarray | None = None,
              count: bool = True):
        """Compare element by element; count=False for a second output of the same vectors."""
        got, want = np.asarray(got).ravel(), np.asarray(want).ravel()
        if got.shape != want.shape:
            raise AssertionError(f"{got.size} results for {want.size} expected values")
        bad = got != want
        self.vectors += got.size if count else 0
        self.mismatches += int(bad.sum())
        if bad.any() and len(self.examples) < 10:
            idx = np.flatnonzero(bad)[:10 - len(self.examples)]
            ctx = np.asarray(context).reshape(got.size, -1) if context is not None else None
            self.examples += [{"got": str(got[i]), "want": str(want[i]),
                               **({"inputs": [str(v) for v in ctx[i]]} if ctx is not None else {})}
                              for i in idx]

    def compare(self, vs, got: dict[str, np.ndarray]) -> None:
        """Count a vector set against what the design produced (sqhw.verify.vectors)."""
        from .replay import mismatches, records

        bad = mismatches(vs, got)
        self.vectors += vs.count
        self.mismatches += int(bad.sum())
        room = 10 - len(self.examples)
        if bad.any() and room > 0:
            self.examples += records(vs, np.flatnonzero(bad)[:room], got)

    def write(self, test: str) -> dict:
        """Add this test's result to the SQHW_RESULT file ({test name: result})."""
        elapsed = time.perf_counter() - self.start
        result = {"vectors": self.vectors, "mismatches": self.mismatches,
                  "seconds": round(elapsed, 3),
                  "vectors_per_second": round(self.vectors / elapsed) if elapsed else None,
                  "examples": self.examples, **self.extra}
        path = os.environ["SQHW_RESULT"]
        results = {}
        if os.path.exists(path):
            with open(path) as f:
                results = json.load(f)
        results[test] = result
        with open(path, "w") as f:
            json.dump(results, f, indent=1)
        print(test, json.dumps({k: v for k, v in result.items() if k != "examples"}))
        return result
