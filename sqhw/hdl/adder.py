"""A wide addition split into chunks from the low bits up, with a register allowed after
each chunk (the carry and the finished low bits wait there), so a 64- or 100-bit negation
meets a clock that one carry chain of that length cannot. Throughput stays one per cycle.
"""

from __future__ import annotations

import math

from amaranth.hdl import Cat, Module, Signal, Value

from .pipeline import delay
from .timing import Segment

CHUNK_BITS = 32  # ECP5: a 32-bit carry chain, register to register, is ~4 ns


def chunk_count(width: int) -> int:
    return max(1, math.ceil(width / CHUNK_BITS))


def chunk_segments(name: str, width: int, extra_ns: float, model) -> list[Segment]:
    """Segments of a `width`-bit add in chunks: `name0`, `name1`, ... and the last one
    `name`; `extra_ns` (the logic in front of the add) is charged to the first."""
    count = chunk_count(width)
    bounds = [width * i // count for i in range(count + 1)]
    # a later chunk's carry-in comes from the previous chunk (a register or a route into
    # its chain: carry_ns covers both)
    return [Segment(name if i == count - 1 else f"{name}{i}",
                    (extra_ns if i == 0 else 0.0) + model.carry_ns
                    + model.carry_bit_ns * (bounds[i + 1] - bounds[i]))
            for i in range(count)]


def chunked_add(m: Module, x: Value, carry: Value, registers, name: str,
                enable: Value | None = None) -> Value:
    """(x + carry) mod 2**len(x), added in len(registers) chunks; registers[i] after chunk i.
    Returns the unsigned sum (latency sum(registers))."""
    width, count = len(x), len(registers)
    bounds = [width * i // count for i in range(count + 1)]
    done: list[Value] = []
    rest = x
    for i in range(count):
        size = bounds[i + 1] - bounds[i]
        part = Signal(size + 1, name=f"{name}_c{i}")
        m.d.comb += part.eq(rest[:size] + carry)
        rest = rest[size:]
        r = registers[i]
        done = [delay(m, d, r, f"{name}_c{i}_done{j}", enable) for j, d in enumerate(done)]
        done.append(delay(m, part[:size], r, f"{name}_c{i}_sum", enable))
        carry = delay(m, part[size], r, f"{name}_c{i}_carry", enable)
        if len(rest):
            rest = delay(m, rest, r, f"{name}_c{i}_rest", enable)
    return Cat(*done)
