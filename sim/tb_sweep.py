"""cocotb testbench: the self-driving sweep harness (sqhw.verify.sweep) runs every input
code of every design (multipliers: every pair; converters: every code) at Verilator's speed;
its output files are then compared with sqhw.ref in numpy, a chunk at a time.

Python only resets the harness and waits for `done`: no per-vector crossing."""

import os

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge, with_timeout

from sqhw.verify import sweep
from sqhw.verify.bench import Tally, parameters, start_clock

CHUNK = 1 << 20  # vectors compared at a time (bounds memory on 16.7 M-vector sweeps)


@cocotb.test()
async def every_input_of_every_design(dut):
    manifests, lanes, seed = parameters()
    prefix = os.environ["SQHW_SWEEP_OUT"]
    tally = Tally()
    start_clock(dut)
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    cycles = max((1 << sweep.space_bits(m)) // sweep.lanes_of(m, lanes) + m["latency"]
                 for m in manifests)
    await with_timeout(RisingEdge(dut.done), 2 * (cycles + 16), "ns")  # a 2 ns clock
    simulated = tally.elapsed()
    first_failure = None
    for k, manifest in enumerate(manifests):
        path = f"{prefix}{k}.bin"
        total = 1 << sweep.space_bits(manifest)
        chunk = max(CHUNK - CHUNK % sweep.lanes_of(manifest, lanes), sweep.lanes_of(manifest,
                                                                                     lanes))
        for start in range(0, total, chunk):
            stop = min(start + chunk, total)
            got = sweep.read_outputs(path, manifest, lanes, start, stop)
            inputs = sweep.sweep_inputs(manifest, seed, start, stop)
            want = sweep.expected_outputs(manifest, inputs)
            bad = sweep.compare(got, want)
            tally.vectors += stop - start
            tally.mismatches += int(bad.sum())
            if bad.any():
                first_failure = first_failure or (manifest["top"], got, want)
                for i in np.flatnonzero(bad)[:max(0, 10 - len(tally.examples))]:
                    tally.examples.append({
                        "design": manifest["top"], "index": start + int(i),
                        "inputs": {n: int(v[i]) for n, v in inputs.items()},
                        "got": {n: np.asarray(v[i]).tolist() for n, v in got.items()},
                        "want": {n: np.asarray(v[i]).tolist() for n, v in want.items()}})
        os.unlink(path)
    tally.extra.update({"designs": [m["top"] for m in manifests],
                        "simulated_seconds": round(simulated, 3)})
    result = tally.write("sweep")
    if first_failure is not None:
        top, got, want = first_failure
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], strict=True,
                                          err_msg=f"{top}: output {name}")
    assert result["vectors"] == sum(1 << sweep.space_bits(m) for m in manifests)
