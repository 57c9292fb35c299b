"""SparseDSPArray: `lanes` one-lane SparseDSPChain modules side by side, in lock step.

The same ports and behaviour as `SparseDSPChain(..., lanes=L)`, built so that its size does
not grow the generated Verilog: the lane is generated once, as its own module, and the array
instantiates it `lanes` times. Every lane sees the same stream handshakes (`acts.valid`,
`weights.valid`, `result.ready`) and `n_log2`, and a lane's control state depends on nothing
else, so all lanes step together and lane 0's `ready` / `valid` speak for all of them. The
price is one copy of the small stream control (valid pipeline, stall) per lane.

Why: the flat chain elaborates every lane in Amaranth (about half a second and 80 kB of
Verilog per lane), so a board-sized array (hundreds of lanes on an Alveo) took minutes and
gigabytes to write; here the array costs the same at any size, and synthesis tools see one
lane module, so Yosys maps it once and counts it per instance.

    >>> from sqhw.formats import parse
    >>> array = SparseDSPArray(parse("int8"), parse("int8"), m=4, chain=8, max_k=4096,
    ...                        out_fmt=parse("int8"), lanes=564)
    >>> array.lane.lanes, array.lanes, array.latency == array.lane.latency
    (1, 564, True)
"""

from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring

from ._refuse import refusing
from .sparse_chain import SparseDSPChain, chain_signature

LANE_MODULE = "sqhw_dsp_lane"


class SparseDSPArray(wiring.Component):
    """`lanes` instances of the Verilog module `lane_module` (a one-lane SparseDSPChain,
    written beside the array's own Verilog); the signature is SparseDSPChain(lanes=lanes)'s.
    Arguments as for SparseDSPChain."""

    @refusing
    def __init__(self, w_fmt, x_fmt, m: int, chain: int, max_k: int, out_fmt,
                 rounding: str = "rne", saturate: bool = True, stages: int | None = None,
                 lanes: int = 1, lane_module: str = LANE_MODULE, pack: int = 1,
                 primitive: str | None = None, target_mhz: float | None = None):
        if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
            raise ValueError(f"lanes: expected a positive integer, got {lanes!r}")
        self.lane = SparseDSPChain(w_fmt, x_fmt, m, chain, max_k, out_fmt, rounding=rounding,
                                   saturate=saturate, stages=stages, lanes=1, pack=pack,
                                   primitive=primitive, target_mhz=target_mhz)
        self.lane_module, self.lanes = lane_module, lanes
        for name in ("w_fmt", "x_fmt", "out_fmt", "m", "chain", "max_k", "index_bits",
                     "stages", "target_mhz", "accumulator", "runtime_patterns", "latency",
                     "registers", "estimated_mhz", "pack", "plan", "primitive",
                     "result_queue_depth"):
            setattr(self, name, getattr(self.lane, name))
        super().__init__(chain_signature(w_fmt, x_fmt, m, chain, out_fmt, self.accumulator,
                                         lanes, pack))

    def elaborate(self, platform):
        m = Module()
        lane_ports = self.lane.signature.members
        weights_layout = lane_ports["weights"].signature.members["payload"].shape
        result_layout = lane_ports["result"].signature.members["payload"].shape
        weights, result = self.weights.payload, self.result.payload
        handshake = {name: Signal(name=f"lane0_{name}") for name in
                     ("acts_ready", "weights_ready", "result_valid")}
        for lane in range(self.lanes):
            # the lane's payloads are the array's, sliced: fields in the lane layout's order
            lane_weights = Cat(*(weights[field][lane] if field != "last" else weights.last
                                 for field, _ in weights_layout))
            # the lane's column p is the array's entry p * lanes + lane
            lane_result = Cat(*(result[field][p * self.lanes + lane]
                                for field, _ in result_layout for p in range(self.pack)))
            ours = lane == 0  # the lanes step together: lane 0 speaks for all
            m.submodules[f"lane{lane}"] = Instance(
                self.lane_module,
                i_clk=ClockSignal(), i_rst=ResetSignal(),
                i_acts__payload=self.acts.payload, i_acts__valid=self.acts.valid,
                i_weights__payload=lane_weights, i_weights__valid=self.weights.valid,
                o_result__payload=lane_result, i_result__ready=self.result.ready,
                i_n_log2=self.n_log2,
                **({f"o_{port}": handshake[key] for port, key in
                    (("acts__ready", "acts_ready"), ("weights__ready", "weights_ready"),
                     ("result__valid", "result_valid"))} if ours else {}))
        m.d.comb += [self.acts.ready.eq(handshake["acts_ready"]),
                     self.weights.ready.eq(handshake["weights_ready"]),
                     self.result.valid.eq(handshake["result_valid"])]
        return m
