"""Register stages: `stages` trades latency for Fmax without changing what is computed."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value


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
