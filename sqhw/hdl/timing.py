"""Frequency-directed pipelining: a delay model and the register planner (FloPoCo's `frequency=`).

A generator describes its datapath as an ordered list of `Segment`s (what runs between two
places where a register may go, with its estimated delay); `plan` walks the list and puts a
register after a segment wherever the next one would push a register-to-register path past
the clock period. Segments marked `registered` always end in a register (an accumulator, a
cascade register), so a path restarts there. A register delays every value that crosses the
cut by one cycle, so throughput stays one input per cycle and only the latency grows.

The delays are a model, not a timing analysis: LUT levels x `lut_ns`, carry chains as
`carry_ns + bits x carry_bit_ns`, a hard multiplier as `multiplier_ns`, fitted against
nextpnr-ecp5 on the LFE5U-25F speed 6 here (boards/ecp5_25k.yaml; calibration figures in
ECP5's comment). Other families are faster, so a plan made for ECP5 is conservative there.

>>> plan([Segment("a", 3.0), Segment("b", 3.0), Segment("c", 3.0)], 150)  # 6.67 ns
(1, 1, 0)
>>> plan([Segment("a", 3.0), Segment("b", 3.0), Segment("c", 3.0)], 50)
(0, 0, 0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_TARGET_MHZ = 1000.0


@dataclass(frozen=True)
class Segment:
    """Logic between two possible register positions; `registered`: a register always follows."""
    name: str
    ns: float
    registered: bool = False


@dataclass(frozen=True)
class DelayModel:
    """Per-family delay estimates (ns) of the pieces the generators are built from."""
    family: str
    register_ns: float    # clock-to-out + setup + the route into and out of the registers
    lut_ns: float         # one LUT4 level with its routing
    carry_ns: float       # into and out of a carry chain
    carry_bit_ns: float   # per bit along it
    multiplier_ns: float  # a hard multiplier used combinationally (Yosys packs no registers)
    mux_level_ns: float   # one 4:1 mux level (LUT4 + PFUMX) of a wide mux or shifter, routed

    def luts(self, levels: int) -> float:
        return levels * self.lut_ns

    def adder(self, bits: int) -> float:
        return self.carry_ns + bits * self.carry_bit_ns

    def mux(self, inputs: int) -> float:
        """An inputs-way mux: LUT4 + PFUMX make a 4:1 mux per level."""
        return self.mux_level_ns * max(1, math.ceil(math.log(max(inputs, 2), 4)))

    def shifter(self, amounts: int) -> float:
        """A barrel shift by 0 .. amounts-1: one 4:1 mux level per two bits of the amount."""
        return 0.0 if amounts <= 1 else self.mux(amounts)

    def spread(self, copies: int) -> float:
        """The extra route of a value that feeds `copies` copies of a circuit (the act window
        every lane of a chain shares): one LUT level's route per doubling."""
        return self.lut_ns * math.log2(max(copies, 1))

    def reduce(self, bits: int) -> float:
        """An OR / AND of `bits` bits (sticky bits, zero tests): a tree of LUT4s."""
        return 0.0 if bits <= 1 else self.luts(math.ceil(math.log(bits, 4)))


# Fitted to nextpnr-ecp5 (LFE5U-25F, speed 6, seed 1) critical paths of the generators here:
# see docs/pipelining.md for the figures and scripts/hw_table.py to measure them again.
# Refitted 2026-11-22 on the critical paths of the hardware table's rows (docs/pipelining.md):
# a 4:1 shift / mux level routed was 1.7-2.3 ns (one select fans out to every data bit), a LUT
# level 0.24 ns of logic + 0.6-1.5 ns of route.
ECP5 = DelayModel("ecp5", register_ns=1.1, lut_ns=1.0, carry_ns=2.4, carry_bit_ns=0.035,
                  multiplier_ns=5.8, mux_level_ns=2.0)
MODELS = {"ecp5": ECP5}


def check_target(target_mhz) -> float | None:
    if target_mhz is None:
        return None
    if isinstance(target_mhz, bool) or not isinstance(target_mhz, (int, float)) or not (
            0 < target_mhz <= MAX_TARGET_MHZ):
        raise ValueError(f"target_mhz: expected a frequency in MHz, above 0 and at most "
                         f"{MAX_TARGET_MHZ:g}, got {target_mhz!r}")
    return float(target_mhz)


def plan(segments: list[Segment], target_mhz: float, model: DelayModel = ECP5
         ) -> tuple[int, ...]:
    """Registers after each segment (0 or 1; none added after a `registered` one) so that
    every register-to-register path fits one period of target_mhz, where the model can."""
    budget = 1000.0 / target_mhz - model.register_ns
    registers = [0] * len(segments)
    path = 0.0
    for i, segment in enumerate(segments):
        if path > 0 and path + segment.ns > budget:
            registers[i - 1] = 1
            path = 0.0
        path = 0.0 if segment.registered else path + segment.ns
    return tuple(registers)


def estimate_mhz(segments: list[Segment], registers, model: DelayModel = ECP5) -> float:
    """The model's Fmax of a datapath with these registers: its longest path between two."""
    longest = path = 0.0
    for segment, count in zip(segments, registers, strict=True):
        path += segment.ns
        longest = max(longest, path)
        if count or segment.registered:
            path = 0.0
    return round(1000.0 / (longest + model.register_ns), 1)


def check_registers(registers, segments: list[Segment], owner: str) -> tuple[int, ...]:
    """A plan given by hand: one register count (>= 0) per segment."""
    names = [s.name for s in segments]
    if (not isinstance(registers, (tuple, list)) or len(registers) != len(segments) or not all(
            isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in registers)):
        raise ValueError(f"{owner}: registers: expected {len(segments)} counts >= 0 (after "
                         f"{', '.join(names)}), got {registers!r}")
    return tuple(registers)


def at(segments: list[Segment], registers, name: str) -> int:
    """The registers after the segment called `name`."""
    return registers[[s.name for s in segments].index(name)]
