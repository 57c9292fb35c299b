"""cocotb testbench: SparseChainKernel (the sparse chain as a Vitis RTL kernel) driven as XRT
and the platform drive it, through cocotbext-axi: AxiLiteMaster on s_axi_control,
AxiStreamSource on acts / weights (one frame per row, so TLAST ends each row), AxiStreamSink
on result. Register offsets, bit fields, stream widths and payload fields come from the
manifest.

After reset: the kernel is idle, byte strobes write single bytes, and a run of zero result
beats is done at once. Then one run per pattern of SQHW_RUNS ("2:4,1:4": one build, the
run-time N set through n_log2): write n_log2 and result_beats, send the beats, write
ap_start, collect the result frame and check every output against sqhw.ref
(chain_stimulus.check_results), read ap_done (and that reading clears it), the interrupt and
ISR, and the counters: results_out == result beats, busy_cycles - stall_cycles == input
beats. Sources pause with probability 1 - SQHW_VALID, the sink with 1 - SQHW_READY.
Sizes: SQHW_ROWS, SQHW_K, SQHW_COLS; SQHW_SEED."""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, with_timeout
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from sqhw.sparsity import NM
from sqhw.verify.bench import Tally, parameters
from sqhw.verify.chain_stimulus import chain_run, check_results
from sqhw.verify.harness import port_name

CLOCK_NS = 2


def pauses(rng, p_go):
    """cocotbext-axi pause generator: pause each cycle with probability 1 - p_go."""
    while True:
        yield bool(rng.random() >= p_go)


class Registers:
    """s_axi_control by register and field name, offsets from the manifest; counts the
    register-level checks it makes."""

    def __init__(self, master, control: dict):
        self.master = master
        self.regs = {r["name"]: r for r in control["registers"]}
        self.checks = 0

    def mask(self, reg: str, field: str) -> int:
        return 1 << self.regs[reg]["fields"][field]

    async def read(self, reg: str) -> int:
        return await self.master.read_dword(self.regs[reg]["offset"])

    async def write(self, reg: str, value: int) -> None:
        await self.master.write_dword(self.regs[reg]["offset"], value)

    def expect(self, condition: bool, message: str) -> None:
        assert condition, message
        self.checks += 1


def frame_of(words: list[int], stream: dict) -> AxiStreamFrame:
    """One row's beats as an AXI4-Stream frame: each word's payload bits, TDATA bytes."""
    bits, nbytes = stream["payload_bits"], stream["tdata_width"] // 8
    return AxiStreamFrame(b"".join((w & ((1 << bits) - 1)).to_bytes(nbytes, "little")
                                   for w in words))


@cocotb.test()
async def kernel_runs(dut):
    manifests, _, seed = parameters()
    manifest = manifests[0]
    p, kernel = manifest["parameters"], manifest["kernel"]
    streams, control = kernel["streams"], kernel["control"]
    rng = np.random.default_rng(seed)
    patterns = os.environ.get("SQHW_RUNS", "2:4").split(",")
    rows, k = int(os.environ.get("SQHW_ROWS", "10")), int(os.environ.get("SQHW_K", "64"))
    cols = int(os.environ.get("SQHW_COLS", "1"))
    p_valid = float(os.environ.get("SQHW_VALID", "1"))
    p_ready = float(os.environ.get("SQHW_READY", "1"))

    clk = getattr(dut, port_name(0, kernel["clock"]))
    rst_n = getattr(dut, port_name(0, kernel["reset"]["name"]))
    interrupt = getattr(dut, port_name(0, kernel["interrupt"]))
    Clock(clk, CLOCK_NS, "ns").start()
    bus = {"reset": rst_n, "reset_active_level": False}
    regs = Registers(AxiLiteMaster(AxiLiteBus.from_prefix(dut, port_name(0, control["name"])),
                                   clk, **bus), control)
    sources = {name: AxiStreamSource(AxiStreamBus.from_prefix(dut, port_name(0, name)), clk,
                                     **bus)
               for name, s in streams.items() if s["direction"] == "in"}
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, port_name(0, "result")), clk, **bus)
    for source in sources.values():
        source.set_pause_generator(pauses(rng, p_valid))
    sink.set_pause_generator(pauses(rng, p_ready))
    rst_n.value = 0
    await ClockCycles(clk, 4)
    rst_n.value = 1
    await ClockCycles(clk, 2)

    # the register file on its own
    status = await regs.read("CTRL")
    regs.expect(status == regs.mask("CTRL", "ap_idle"), f"CTRL after reset: {status:#x}")
    await regs.write("result_beats", 0x12345678)
    await regs.master.write(regs.regs["result_beats"]["offset"] + 1, b"\xab")  # one byte lane
    got = await regs.read("result_beats")
    regs.expect(got == 0x1234AB78, f"result_beats after a one-byte write: {got:#x}")
    await regs.write("GIE", 1)
    await regs.write("IER", regs.mask("IER", "ap_done"))
    await regs.write("result_beats", 0)
    await regs.write("CTRL", regs.mask("CTRL", "ap_start"))
    status = await regs.read("CTRL")
    regs.expect(status & regs.mask("CTRL", "ap_done") and status & regs.mask("CTRL", "ap_idle"),
                f"CTRL after a run of no results: {status:#x}")
    await regs.write("ISR", regs.mask("ISR", "ap_done"))

    tally = Tally()
    runs = []
    for pattern in patterns:
        nm = NM.parse(pattern)
        run = chain_run(p, {name: streams[name]["payload"] for name in ("acts", "weights")},
                        nm, rows, k, cols, rng)
        last_bit = streams["weights"]["payload_bits"]  # the chain's `last`, carried by TLAST
        for row in run.weight_rows:
            regs.expect([w >> last_bit for w in row] == [0] * (len(row) - 1) + [1],
                        "a weight row's `last` bits are not its TLAST")
        await regs.write("n_log2", int(np.log2(nm.n)))
        await regs.write("result_beats", run.result_beats)
        for name, beat_rows in (("acts", run.act_rows), ("weights", run.weight_rows)):
            for row in beat_rows:
                await sources[name].send(frame_of(row, streams[name]))
        await regs.write("CTRL", regs.mask("CTRL", "ap_start"))
        timeout = CLOCK_NS * round(4 * len(run.weight_words) / (p_valid * p_ready) + 2000)
        frame = await with_timeout(sink.recv(), timeout, "ns")
        nbytes = streams["result"]["tdata_width"] // 8
        data = bytes(frame.tdata)
        words = [int.from_bytes(data[i:i + nbytes], "little")
                 for i in range(0, len(data), nbytes)]
        check_results(tally, words, run, streams["result"]["payload"], p)

        isr = await regs.read("ISR")
        regs.expect(isr == regs.mask("ISR", "ap_done"), f"ISR after the run: {isr:#x}")
        regs.expect(interrupt.value.to_unsigned() == 1, "interrupt low after the run")
        status = await regs.read("CTRL")
        done = regs.mask("CTRL", "ap_done") | regs.mask("CTRL", "ap_idle") | \
            regs.mask("CTRL", "ap_ready")
        regs.expect(status == done, f"CTRL after the run: {status:#x}, expected {done:#x}")
        status = await regs.read("CTRL")
        regs.expect(status == regs.mask("CTRL", "ap_idle"),
                    f"CTRL read again: {status:#x} (ap_done and ap_ready clear on read)")
        await regs.write("ISR", regs.mask("ISR", "ap_done"))
        isr = await regs.read("ISR")
        regs.expect(isr == 0 and interrupt.value.to_unsigned() == 0,
                    f"ISR after writing 1: {isr:#x}")
        counters = {name: await regs.read(name)
                    for name in ("busy_cycles", "results_out", "stall_cycles")}
        regs.expect(counters["results_out"] == run.result_beats,
                    f"results_out {counters['results_out']}, expected {run.result_beats}")
        beats_in = counters["busy_cycles"] - counters["stall_cycles"]
        regs.expect(beats_in == len(run.weight_words),
                    f"busy_cycles - stall_cycles = {beats_in}, expected "
                    f"{len(run.weight_words)} input beats")
        regs.expect(counters["busy_cycles"] >= len(run.weight_words) + manifest["latency"],
                    f"busy_cycles {counters['busy_cycles']} shorter than the beats and the "
                    "pipeline")
        runs.append({"pattern": pattern, "outputs": run.outputs,
                     "result_beats": run.result_beats, "input_beats": len(run.weight_words),
                     **counters})
    tally.extra.update(runs=runs, register_checks=regs.checks, rows=rows, k=k, cols=cols,
                       seed=seed)
    result = tally.write("axi_kernel")
    assert result["mismatches"] == 0, result["examples"]
