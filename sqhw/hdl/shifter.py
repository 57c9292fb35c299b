"""A barrel shift in steps of one 4:1 mux level (two bits of the amount), with a register
allowed after each step, so a wide normalising or exponent shift meets a clock that the whole
shift in one cycle cannot (ECP5: one routed 4:1 level is about 2 ns, sqhw.hdl.timing).
Throughput stays one per cycle.
"""

from __future__ import annotations

from amaranth.hdl import Array, Signal

from .timing import Segment


def shift_steps(amounts: int) -> list[tuple[int, int]]:
    """A barrel shift by 0 .. amounts-1 as steps of two amount bits each (one 4:1 mux level),
    lowest first, with a possible register after each: the (first, last + 1) bit of the
    amount each step uses. A shift by one amount only still has one (empty) step.

    >>> shift_steps(31), shift_steps(4), shift_steps(1)
    ([(0, 2), (2, 4), (4, 5)], [(0, 2)], [(0, 0)])
    """
    bits = max(amounts - 1, 0).bit_length()
    return [(lo, min(lo + 2, bits)) for lo in range(0, bits, 2)] or [(0, 0)]


def shift_segments(name: str, amounts: int, model, first_ns: float = 0.0) -> list[Segment]:
    """The segments of a stepped shift: `name0`, `name1`, ... and the last one `name`;
    `first_ns` (logic in front of the shift) is charged to the first step."""
    steps = shift_steps(amounts)
    return [Segment(name if i == len(steps) - 1 else f"{name}{i}",
                    (first_ns if i == 0 else 0.0) + (model.mux_level_ns if hi > lo else 0.0))
            for i, (lo, hi) in enumerate(steps)]


def step_names(name: str, amounts: int) -> list[str]:
    """The segment names of a stepped shift (as shift_segments gives them)."""
    count = len(shift_steps(amounts))
    return [name if i == count - 1 else f"{name}{i}" for i in range(count)]


def stepped_shift(m, value, amount, amounts: int, name: str, segment: str, cut, along=()):
    """value << amount (0 <= amount < amounts) in the steps of shift_steps, one 4:1 mux
    level each, every step's result truncated to len(value) (a left shift truncated step by
    step keeps the same low bits). The steps are the segments `step_names(segment, amounts)`
    (those shift_segments plans): cut(segment_name, *values) places each step's registers,
    and `along` travels beside. Returns (shifted, amount, along) after the last step."""
    names = step_names(segment, amounts)
    for i, (lo, hi) in enumerate(shift_steps(amounts)):
        part = Signal.like(value, name=f"{name}_step{i}")
        if hi > lo:
            m.d.comb += part.eq(Array(value << (k << lo) for k in range(1 << (hi - lo)))
                                [amount[lo:hi]])
        else:
            m.d.comb += part.eq(value)
        value, amount, *along = cut(names[i], part, amount, *along)
    return value, amount, tuple(along)
