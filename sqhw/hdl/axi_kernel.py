"""SparseChainKernel: SparseDSPChain as a Vitis RTL kernel top (XRT-managed, ap_ctrl_hs).

Ports, as Vitis requires them: clock `ap_clk`, active-low synchronous reset `ap_rst_n`, the
AXI4-Lite control slave `s_axi_control`, `interrupt`, and three AXI4-Stream ports:

- `acts` (in): one beat per chain beat, TDATA = the chain's activation window;
- `weights` (in): TDATA = every lane's packed slots (values, indices); TLAST ends a row,
  which is the chain's `last`;
- `result` (out): TDATA = {code[lanes], acc[lanes], special[lanes]}; TLAST marks the run's
  last result beat.

TDATA holds the chain's payload layout from bit 0 (first field lowest), zero-padded to whole
bytes. The register file is `register_map(chain)`: ap_ctrl_hs at 0x00 (start / done / idle /
ready / auto_restart), GIE 0x04, IER 0x08, ISR 0x0C, then the kernel arguments n_log2 and
result_beats and three read-only counters of the last run, one register per 8 bytes from 0x10
as Vitis HLS lays scalars out. A run starts when ap_start is written while the kernel is idle:
n_log2 and result_beats are latched and the counters cleared; the streams are taken only while
the run lasts; it ends (ap_done, ap_ready, interrupt if enabled) with its result_beats-th
result beat.

    >>> from sqhw.formats import parse
    >>> chain = SparseDSPChain(parse("int8"), parse("int8"), m=4, chain=2, max_k=64,
    ...                        out_fmt=parse("int8"), lanes=2)
    >>> kernel = SparseChainKernel(chain)
    >>> kernel.stream_widths
    {'acts': 64, 'weights': 40, 'result': 64}
    >>> [(r.name, hex(r.offset)) for r in kernel.registers if r.argument]
    [('n_log2', '0x10'), ('result_beats', '0x18')]
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, ClockDomain, ClockSignal, Module, Mux, ResetSignal, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .axi import AXI_OKAY, AXI4LiteSignature, AXI4StreamSignature
from .chain_array import SparseDSPArray
from .sparse_chain import SparseDSPChain

__all__ = ["Register", "SparseChainKernel", "register_map"]

DATA_WIDTH = 32        # s_axi_control is 32 bits wide (Vitis: dataWidth="32")
ARGUMENT_BASE = 0x10   # Vitis: user registers start at 0x10; below is ap_ctrl_hs' own block
ARGUMENT_STRIDE = 8    # one register per 8 bytes, as Vitis HLS lays scalar arguments out
CONTROL_FIELDS = (("ap_start", 0), ("ap_done", 1), ("ap_idle", 2), ("ap_ready", 3),
                  ("auto_restart", 7))
INTERRUPT_FIELDS = (("ap_done", 0), ("ap_ready", 1))


@dataclass(frozen=True)
class Register:
    """One 32-bit register of s_axi_control: bits [width-1:0] are used, the rest read 0."""
    name: str
    offset: int
    width: int
    access: str           # "rw", "ro", "rw1s" (CTRL: write 1 to start), "tow" (ISR)
    argument: bool        # a kernel argument the host sets (listed in kernel.xml)
    meaning: str
    fields: tuple[tuple[str, int], ...] = ()   # (name, bit) of a bit-field register

    def bit(self, field: str) -> int:
        for name, bit in self.fields:
            if name == field:
                return bit
        raise KeyError(f"register {self.name}: no field {field!r} (fields: "
                       f"{', '.join(name for name, _ in self.fields) or 'none'})")

    def row(self) -> dict:
        """JSON-ready (the manifest's kernel.registers entries)."""
        return {"name": self.name, "offset": self.offset, "width": self.width,
                "access": self.access, "argument": self.argument, "meaning": self.meaning,
                **({"fields": dict(self.fields)} if self.fields else {})}


def register_map(chain: SparseDSPChain) -> tuple[Register, ...]:
    """The control registers of a kernel around `chain`, in address order."""
    block = (
        Register("CTRL", 0x00, max(bit for _, bit in CONTROL_FIELDS) + 1, "rw1s", False,
                 "ap_start (write 1; cleared by ap_ready unless auto_restart), ap_done "
                 "(cleared on read), ap_idle, ap_ready (cleared on read), auto_restart",
                 CONTROL_FIELDS),
        Register("GIE", 0x04, 1, "rw", False, "global interrupt enable"),
        Register("IER", 0x08, len(INTERRUPT_FIELDS), "rw", False,
                 "interrupt enable per event", INTERRUPT_FIELDS),
        Register("ISR", 0x0C, len(INTERRUPT_FIELDS), "tow", False,
                 "interrupt status per event (write 1 to toggle, i.e. clear)",
                 INTERRUPT_FIELDS))
    patterns = ", ".join(chain.runtime_patterns)
    rest = (
        ("n_log2", len(chain.n_log2), "rw", True,
         f"log2 of the run-time N; this build runs {patterns}"),
        ("result_beats", DATA_WIDTH, "rw", True,
         f"result beats the run sends, one output per lane ({chain.lanes}) each: "
         "ceil(rows / lanes) per column of X"),
        ("busy_cycles", DATA_WIDTH, "ro", False, "cycles of the last run (start to done)"),
        ("results_out", DATA_WIDTH, "ro", False, "result beats sent by the last run"),
        ("stall_cycles", DATA_WIDTH, "ro", False,
         "cycles of the last run in which no input beat entered the chain (an input stream "
         "was empty or the result stream held the chain)"))
    return block + tuple(Register(name, ARGUMENT_BASE + i * ARGUMENT_STRIDE, width, access,
                                  argument, meaning)
                         for i, (name, width, access, argument, meaning) in enumerate(rest))


def _payload_layout(chain: SparseDSPChain, stream: str) -> data.Layout:
    return data.Layout.cast(chain.signature.members[stream].signature.members["payload"].shape)


def _whole_bytes(bits: int) -> int:
    return -(-bits // 8) * 8


class SparseChainKernel(wiring.Component):
    """A Vitis RTL kernel (ap_ctrl_hs) around one SparseDSPChain (or SparseDSPArray, its
    board-sized twin with the same ports); see the module docstring.

    `registers` is the register map, `stream_widths` the TDATA width of each AXI4-Stream
    port, `addr_width` the s_axi_control address width; `verilog_ports()` names the ports as
    Vitis wants them (interface and signal joined with "_")."""

    TLAST = {"acts": "ignored (rows are delimited by the weights stream)",
             "weights": "ends a row: the chain's last",
             "result": "marks the run's last result beat"}

    def __init__(self, chain: SparseDSPChain | SparseDSPArray):
        if not isinstance(chain, (SparseDSPChain, SparseDSPArray)):
            raise TypeError(f"chain: expected a SparseDSPChain or SparseDSPArray, got "
                            f"{type(chain).__name__}")
        self.chain = chain
        self.registers = register_map(chain)
        end = max(r.offset for r in self.registers) + DATA_WIDTH // 8
        self.addr_width = (end - 1).bit_length()
        weights = _payload_layout(chain, "weights")
        last = weights["last"]
        if last.offset != weights.size - 1:  # TLAST carries it, so it must be the top bit
            raise ValueError(f"weights payload: 'last' is at bit {last.offset}, expected the "
                             f"top bit {weights.size - 1}")
        self.payload_bits = {"acts": _payload_layout(chain, "acts").size,
                             "weights": weights.size - 1,
                             "result": _payload_layout(chain, "result").size}
        self.stream_widths = {name: _whole_bytes(bits) for name, bits in self.payload_bits.items()}
        super().__init__({
            "ap_clk": In(1), "ap_rst_n": In(1), "interrupt": Out(1),
            "s_axi_control": In(AXI4LiteSignature(self.addr_width, DATA_WIDTH)),
            "acts": In(AXI4StreamSignature(self.stream_widths["acts"])),
            "weights": In(AXI4StreamSignature(self.stream_widths["weights"])),
            "result": Out(AXI4StreamSignature(self.stream_widths["result"]))})

    def register(self, name: str) -> Register:
        for reg in self.registers:
            if reg.name == name:
                return reg
        raise KeyError(f"no register {name!r} (registers: "
                       f"{', '.join(r.name for r in self.registers)})")

    def interface(self) -> dict:
        """JSON-ready description of the kernel's interfaces (the manifest's `kernel` key,
        which sqhw.hw.vitis writes kernel.xml and the packaging Tcl from)."""
        flows = {name: "in" if member.flow == In else "out"
                 for name, member in self.signature.members.items()}
        return {
            "protocol": "ap_ctrl_hs", "clock": "ap_clk",
            "reset": {"name": "ap_rst_n", "active": "low", "synchronous": True},
            "interrupt": "interrupt",
            "control": {"name": "s_axi_control", "addr_width": self.addr_width,
                        "data_width": DATA_WIDTH, "range": 1 << self.addr_width,
                        "registers": [r.row() for r in self.registers]},
            "streams": {name: {"direction": flows[name], "tdata_width": width,
                               "payload_bits": self.payload_bits[name],
                               "tlast": self.TLAST[name]}
                        for name, width in self.stream_widths.items()}}

    def verilog_ports(self) -> list[tuple[str, Signal, str]]:
        """(Verilog name, signal, "in"/"out") per port: `s_axi_control_awaddr`, `acts_tdata`."""
        return [("_".join(map(str, path)), value, "in" if member.flow == In else "out")
                for path, member, value in self.signature.flatten(self)]

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync")
        m.domains.ap = ClockDomain("ap", reset_less=True)
        reset = Signal(init=1)  # ap_rst_n registered once (Vitis: pipeline the reset)
        m.d.comb += [ClockSignal("sync").eq(self.ap_clk), ClockSignal("ap").eq(self.ap_clk),
                     ResetSignal("sync").eq(reset)]
        m.d.ap += reset.eq(~self.ap_rst_n)

        m.submodules.chain = chain = self.chain
        axil = self.s_axi_control
        reg = {r.name: r for r in self.registers}
        stored = {r.name: Signal(r.width, name=f"reg_{r.name}") for r in self.registers
                  if r.name not in ("CTRL", "ISR")}
        ctrl = reg["CTRL"]
        start, done, ready, auto_restart = (Signal(name=n) for n in
                                            ("ap_start", "ap_done", "ap_ready", "auto_restart"))
        isr = Signal(reg["ISR"].width)
        busy = Signal()
        run_n_log2 = Signal.like(chain.n_log2)
        run_beats = Signal(DATA_WIDTH)

        # -- the streams, taken only while a run lasts
        result_fire = self.result.tvalid & self.result.tready
        beat_in = chain.acts.valid & chain.acts.ready  # the chain's join fires
        last_result = stored["results_out"] + 1 == run_beats
        bits = self.payload_bits
        m.d.comb += [
            chain.n_log2.eq(run_n_log2),
            chain.acts.valid.eq(self.acts.tvalid & busy),
            self.acts.tready.eq(chain.acts.ready & busy),
            chain.acts.payload.eq(self.acts.tdata[:bits["acts"]]),
            chain.weights.valid.eq(self.weights.tvalid & busy),
            self.weights.tready.eq(chain.weights.ready & busy),
            chain.weights.payload.eq(Cat(self.weights.tdata[:bits["weights"]],
                                         self.weights.tlast)),
            self.result.tdata.eq(chain.result.payload),
            self.result.tvalid.eq(chain.result.valid & busy),
            self.result.tlast.eq(last_result),
            chain.result.ready.eq(self.result.tready & busy)]

        # -- run control and counters
        finishing = busy & ((run_beats == 0) | (result_fire & last_result))
        with m.If(start & ~busy):
            m.d.sync += [busy.eq(1), run_n_log2.eq(stored["n_log2"]),
                         run_beats.eq(stored["result_beats"]), stored["busy_cycles"].eq(0),
                         stored["results_out"].eq(0), stored["stall_cycles"].eq(0)]
        with m.Elif(busy):
            m.d.sync += stored["busy_cycles"].eq(stored["busy_cycles"] + 1)
            with m.If(~beat_in):
                m.d.sync += stored["stall_cycles"].eq(stored["stall_cycles"] + 1)
            with m.If(result_fire):
                m.d.sync += stored["results_out"].eq(stored["results_out"] + 1)
            with m.If(finishing):
                m.d.sync += busy.eq(0)

        # -- AXI4-Lite writes: AW and W taken together, then one B response
        b_valid = Signal()
        write = axil.awvalid & axil.wvalid & ~b_valid
        m.d.comb += [axil.awready.eq(write), axil.wready.eq(write), axil.bvalid.eq(b_valid),
                     axil.bresp.eq(AXI_OKAY)]
        with m.If(write):
            m.d.sync += b_valid.eq(1)
        with m.Elif(axil.bready):
            m.d.sync += b_valid.eq(0)
        write_word = axil.awaddr[2:]
        wdata = Cat(Mux(axil.wstrb[i], axil.wdata[8 * i:8 * i + 8], 0)
                    for i in range(DATA_WIDTH // 8))
        writes = {name: write & (write_word == reg[name].offset >> 2) for name in reg}
        for name, signal in stored.items():
            if reg[name].access == "rw":  # byte strobes pick the bytes that change
                with m.If(writes[name]):
                    m.d.sync += signal.eq(Cat(Mux(axil.wstrb[i // 8], axil.wdata[i], signal[i])
                                              for i in range(len(signal))))

        # CTRL: ap_start set by writing 1, cleared by ap_ready unless auto_restart
        with m.If(writes["CTRL"] & wdata[ctrl.bit("ap_start")]):
            m.d.sync += start.eq(1)
        with m.Elif(finishing):
            m.d.sync += start.eq(auto_restart)
        with m.If(writes["CTRL"] & axil.wstrb[ctrl.bit("auto_restart") // 8]):
            m.d.sync += auto_restart.eq(axil.wdata[ctrl.bit("auto_restart")])

        # -- AXI4-Lite reads: one outstanding, data registered
        r_valid, r_data = Signal(), Signal(DATA_WIDTH)
        read = axil.arvalid & ~r_valid
        m.d.comb += [axil.arready.eq(~r_valid), axil.rvalid.eq(r_valid), axil.rdata.eq(r_data),
                     axil.rresp.eq(AXI_OKAY)]
        with m.If(read):
            m.d.sync += r_valid.eq(1)
        with m.Elif(axil.rready):
            m.d.sync += r_valid.eq(0)
        control_word = Signal(ctrl.width)
        for name, value in (("ap_start", start), ("ap_done", done), ("ap_idle", ~busy),
                            ("ap_ready", ready), ("auto_restart", auto_restart)):
            m.d.comb += control_word[ctrl.bit(name)].eq(value)
        readable = {**stored, "CTRL": control_word, "ISR": isr}
        with m.If(read):
            with m.Switch(axil.araddr[2:]):
                for name, value in readable.items():
                    with m.Case(reg[name].offset >> 2):
                        m.d.sync += r_data.eq(value)
                with m.Default():
                    m.d.sync += r_data.eq(0)
        read_ctrl = read & (axil.araddr[2:] == ctrl.offset >> 2)

        # ap_done / ap_ready: set when the run ends, cleared when CTRL is read
        for flag in (done, ready):
            with m.If(finishing):
                m.d.sync += flag.eq(1)
            with m.Elif(read_ctrl):
                m.d.sync += flag.eq(0)

        # ISR: an enabled event sets its bit, writing 1 toggles it
        for name, bit in INTERRUPT_FIELDS:
            with m.If(stored["IER"][bit] & finishing):
                m.d.sync += isr[bit].eq(1)
            with m.Elif(writes["ISR"] & wdata[bit]):
                m.d.sync += isr[bit].eq(~isr[bit])
        m.d.comb += self.interrupt.eq(stored["GIE"][0] & isr.any())
        return m
