"""cocotb testbench: converters and requantizers against sqhw.ref over every input code.

`every_code_of_every_design` checks every design of the harness on every input code (m,
zero_point and random words drawn at random); `given_vectors` runs the vectors `sqhw verify`
hands over (SQHW_VECTORS) and returns what came out."""

import os

import cocotb

from sqhw.verify import vectors
from sqhw.verify.bench import Tally, datapath_given, drive_vectors, parameters

GIVEN = bool(os.environ.get("SQHW_VECTORS"))


@cocotb.test(skip=GIVEN)
async def every_code_of_every_design(dut):
    manifests, lanes, seed = parameters()
    sets = [vectors.generate(m, seed + k, exhaustive=True) for k, m in enumerate(manifests)]
    tally = Tally()
    for vs, got in zip(sets, await drive_vectors(dut, manifests, lanes, sets)):
        tally.compare(vs, got)
    tally.extra["designs"] = [m["top"] for m in manifests]
    result = tally.write("every_code")
    assert result["mismatches"] == 0, result["examples"]
    assert result["vectors"] == sum(vectors.input_space(m) for m in manifests)


@cocotb.test(skip=not GIVEN)
async def given(dut):
    """The vectors of `sqhw verify` on one design; the host compares them (SQHW_GOT)."""
    await datapath_given(dut)
