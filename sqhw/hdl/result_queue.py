"""ResultQueue: the output FIFO of a pipeline that never stalls, with a registered credit.

A pipeline whose registers load every cycle needs no clock enable (on the 4-lane N:M chain
that enable reached 8675 flip-flops from the result stream's ready, the design's worst path).
What it needs instead is room for every result already inside it when the sink stops taking
them: this queue holds `depth` results, and `room` says whether one more result may enter the
pipeline. `room` is a register, computed from a count of the results claimed (entered the
pipeline, not yet taken from the queue), so nothing combinational runs from `result.ready`
into the pipeline: `result.ready` only reaches the FIFO's read side and this counter.

With `depth` >= the pipeline's latency + FILL, a sink that is always ready never lowers
`room`: one input per cycle, each one a result, still flows. The queue adds LATENCY cycles
(a register in front of the FIFO, then SyncFIFOBuffered's write and its registered read).

    >>> from amaranth.lib import data
    >>> queue = ResultQueue(data.ArrayLayout(8, 4), depth=16)
    >>> queue.depth, ResultQueue.LATENCY
    (16, 3)
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out


class ResultQueue(wiring.Component):
    """`claim`: a beat that will produce a result enters the pipeline this cycle (only while
    `room`); `push_valid` / `push_payload`: the pipeline's finished result (never refused:
    the claims keep it in bounds); `result`: the results, in order, as a stream."""

    LATENCY = 3  # a pushed result is on `result` 3 cycles later (push register, write, read)
    # results claimed but not yet taken, beyond the pipeline's, at full rate: a claim counts
    # through the queue's LATENCY and one cycle more, since `room` is a register
    FILL = LATENCY + 1

    def __init__(self, shape, depth: int):
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 2:
            raise ValueError(f"depth: expected an integer >= 2, got {depth!r}")
        self.shape, self.depth = shape, depth
        super().__init__({"claim": In(1), "room": Out(1, init=1),
                          "push_valid": In(1), "push_payload": In(shape),
                          "result": Out(stream.Signature(shape))})

    @classmethod
    def depth_for(cls, pipeline_latency: int) -> int:
        """The depth that keeps one result per cycle flowing through a pipeline of
        `pipeline_latency` cycles when the sink is always ready."""
        return pipeline_latency + cls.FILL

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=len(self.push_payload.as_value()),
                                                    depth=self.depth)
        # the push is registered: the distributed RAM's write (data, address, enable) then
        # starts at flip-flops, not behind the pipeline's last logic (on ECP5 that path,
        # into the RAM's write setup, was the chain's worst)
        pushed = Signal(name="pushed")
        pushed_payload = Signal.like(self.push_payload.as_value(), name="pushed_payload")
        m.d.sync += [pushed.eq(self.push_valid), pushed_payload.eq(self.push_payload)]
        m.d.comb += [fifo.w_data.eq(pushed_payload), fifo.w_en.eq(pushed),
                     self.result.payload.eq(fifo.r_data), self.result.valid.eq(fifo.r_rdy),
                     fifo.r_en.eq(self.result.ready)]
        taken = self.result.valid & self.result.ready
        claimed = Signal(range(self.depth + 1))
        m.d.sync += claimed.eq(claimed + self.claim - taken)
        # room = (claimed + claim - taken) < depth, but not as an add followed by a compare
        # (two carry chains behind `result.ready` and the input streams' valid, which fan
        # out to every lane of an array: on ECP5 that was the 4-lane chain's worst path).
        # claimed moves by one at most and never passes depth, so the two compares of the
        # register itself are ready early and the claim / take only pick one.
        up, down = self.claim & ~taken, taken & ~self.claim
        below = {limit: Signal(name=f"claimed_below_{limit}") for limit in (self.depth - 1,
                                                                            self.depth)}
        m.d.comb += [flag.eq(claimed < limit) for limit, flag in below.items()]
        m.d.sync += self.room.eq(Mux(up, below[self.depth - 1], down | below[self.depth]))
        return m
