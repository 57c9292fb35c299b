"""Register stages: `stages` trades latency for Fmax without changing what is computed."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value

from .timing import ECP5, Segment, estimate_mhz


def check_stages(stages) -> int:
    if not isinstance(stages, int) or isinstance(stages, bool) or stages < 0:
        raise ValueError(f"stages: expected an integer >= 0, got {stages!r}")
    return stages


def delay(m: Module, value: Value, cycles: int, name: str, enable: Value | None = None) -> Value:
    """value after `cycles` registers in the sync domain (no registers for 0); with `enable`,
    the registers load only while it is high (a stalling pipeline)."""
    for i in range(cycles):
        reg = Signal.like(value, name=f"{name}_d{i + 1}")
        if enable is None:
            m.d.sync += reg.eq(value)
        else:
            with m.If(enable):
                m.d.sync += reg.eq(value)
        value = reg
    return value


def split_stages(stages: int, cuts: int) -> list[int]:
    """Registers per cut point: the first `cuts` stages go one to each cut, from the output
    backwards (so stages=1 registers the output); any beyond that are added at the output."""
    per_cut = [0] * cuts
    for i in range(min(stages, cuts)):
        per_cut[cuts - 1 - i] += 1
    per_cut[-1] += max(stages - cuts, 0)
    return per_cut


def resolve_registers(owner: str, segments, stages, target_mhz, registers, legacy,
                      default_stages: int = 0) -> tuple[tuple[int, ...], float | None]:
    """The registers after each of a component's segments, from one of: `stages` (the
    component's fixed cut points, `legacy(stages)`), `target_mhz` (planned by the delay model,
    sqhw.hdl.timing) or `registers` (given by hand); neither: `default_stages`. Returns
    (registers, target_mhz or None)."""
    from .timing import check_registers, check_target, plan

    given = [n for n, v in (("stages", stages), ("target_mhz", target_mhz),
                            ("registers", registers)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"{owner}: give one of stages, target_mhz and registers, got "
                         f"{' and '.join(given)}")
    if registers is not None:
        return check_registers(registers, segments, owner), None
    if target_mhz is not None:
        target = check_target(target_mhz)
        return plan(segments, target), target
    return legacy(check_stages(default_stages if stages is None else stages)), None


def unused(component):
    """A component built only to read its datapath segments, never elaborated: silences
    Amaranth's warning about an unused elaboratable."""
    component._MustUse__silence = True
    return component


def plan_composite(target_mhz, parts, model=None) -> list[tuple[int, ...]]:
    """Plan registers over a chain of parts: each part is a list of segments; returns each
    part's registers (parts made of `registered` segments only take none)."""
    from .timing import ECP5, plan

    segments = [s for part in parts for s in part]
    registers = plan(segments, target_mhz, model or ECP5)
    out, at = [], 0
    for part in parts:
        out.append(tuple(registers[at:at + len(part)]))
        at += len(part)
    return out


def effective_stages(stages, target_mhz, registers, default: int = 0):
    """The `stages` a component was built with (its default when none of the three was
    given), or None when a target or explicit registers placed them."""
    if target_mhz is not None or registers is not None:
        return None
    return default if stages is None else stages


class Pipelined:
    """Registers after named segments: `cut(m, name, *values)` delays values by the count
    the plan gave that segment (None passes through)."""

    def segments(self, model=ECP5) -> list[Segment]:
        raise NotImplementedError

    @property
    def latency(self) -> int:
        return sum(self.registers)

    @property
    def estimated_mhz(self) -> float:
        """The delay model's Fmax of this pipeline (inputs and output registered outside)."""
        return estimate_mhz(self.segments(), self.registers)

    def _legacy_at(self, stages: int, mid: str, out: str) -> tuple[int, ...]:
        """`stages` on the two fixed cut points: one after `mid`, the rest after `out`."""
        first, last = split_stages(stages, 2)
        return tuple(first if s.name == mid else last if s.name == out else 0
                     for s in self.segments())

    def registers_of(self, name: str) -> list[int]:
        """The registers of a chunked add's segments (`name0`, `name1`, ..., `name`)."""
        return [r for s, r in zip(self.segments(), self.registers)
                if s.name == name or (s.name.startswith(name) and s.name[len(name):].isdigit())]

    def cut(self, m: Module, name: str, *values):
        count = self.registers[[s.name for s in self.segments()].index(name)]
        return [v if v is None else delay(m, v, count, f"{name}{i}")
                for i, v in enumerate(values)]
