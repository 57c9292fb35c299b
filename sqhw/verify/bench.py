"""Shared parts of the cocotb testbenches in sim/: parameters from the environment, a lanes
driver for pipelined datapaths, and the result file that pytest reads back.

Runs inside the simulator process (imports cocotb)."""

from __future__ import annotations

import json
import os
import time

import numpy as np

from .lanes import pack, unpack


def parameters() -> tuple[dict, int, int]:
    """(manifest, lanes, seed); the seed comes from SQHW_SEED and is printed for replay."""
    with open(os.environ["SQHW_MANIFEST"]) as f:
        manifest = json.load(f)
    seed = int(os.environ.get("SQHW_SEED", "1234"))
    print(f"SQHW_SEED={seed}")
    return manifest, int(os.environ["SQHW_LANES"]), seed


def port_width(manifest: dict, name: str) -> int:
    return next(p["width"] for p in manifest["ports"] if p["name"] == name)


def start_clock(dut):
    from cocotb.clock import Clock

    Clock(dut.clk, 2, "ns").start()


async def run_datapath(dut, manifest: dict, lanes: int, inputs: dict[str, np.ndarray],
                       outputs: dict[str, bool]) -> dict[str, np.ndarray]:
    """Drive (batches, lanes) input arrays, one batch per cycle, and collect outputs.

    outputs maps port name -> signed?. Uses the manifest's latency: the outputs read at the
    falling edge max(latency, 1) cycles after a batch was written belong to that batch.
    """
    from cocotb.triggers import FallingEdge

    batches = next(iter(inputs.values())).shape[0]
    words = {name: pack(values, port_width(manifest, name)) for name, values in inputs.items()}
    handles_in = {name: getattr(dut, name) for name in inputs}
    handles_out = {name: getattr(dut, name) for name in outputs}
    delay = max(manifest["latency"], 1)
    collected = {name: [] for name in outputs}
    dut.rst.value = 0
    start_clock(dut)
    await FallingEdge(dut.clk)
    for j in range(batches + delay):
        if j >= delay:
            for name, handle in handles_out.items():
                collected[name].append(handle.value.to_unsigned())
        if j < batches:
            for name, handle in handles_in.items():
                handle.value = words[name][j]
        await FallingEdge(dut.clk)
    return {name: unpack(collected[name], lanes, port_width(manifest, name), signed)
            for name, signed in outputs.items()}


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

    def write(self) -> dict:
        elapsed = time.perf_counter() - self.start
        result = {"vectors": self.vectors, "mismatches": self.mismatches,
                  "seconds": round(elapsed, 3),
                  "vectors_per_second": round(self.vectors / elapsed) if elapsed else None,
                  "examples": self.examples, **self.extra}
        with open(os.environ["SQHW_RESULT"], "w") as f:
            json.dump(result, f, indent=1)
        print(json.dumps({k: v for k, v in result.items() if k != "examples"}))
        return result
