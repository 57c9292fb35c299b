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
