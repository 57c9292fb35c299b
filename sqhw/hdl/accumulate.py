"""The exact running sum shared by the MAC, the block dot and the N:M chain."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value

from .timing import ECP5, Segment


def accumulate_segment(bits: int, model=ECP5) -> Segment:
    """The running sum's loop: one add, always registered (the restart to zero is the
    flip-flops' synchronous reset)."""
    return Segment("accumulate", model.adder(bits), registered=True)


def accumulate(m: Module, addend: Value, flag: Value, valid: Value, last: Value,
               advance: Value, shape, extras=()):
    """Add `addend` on every valid beat; on `last` the total (and the OR of `flag`, the
    NaN/Inf marker) move into result registers, with `extras` captured beside them, and the
    sum restarts at zero. Registers load only while `advance` is high (a stalling pipeline).

    Returns (result_sum, result_flag, result_valid, captured_extras)."""
    acc = Signal(shape, name="acc")
    flagged = Signal(name="flag_acc")
    total = Signal(shape, name="total")
    total_flag = Signal(name="total_flag")
    m.d.comb += [total.eq(acc + addend), total_flag.eq(flagged | flag)]
    result = Signal(shape, name="result_acc")
    result_flag = Signal(name="result_flag")
    result_valid = Signal(name="result_valid")
    captured = [Signal.like(extra, name=f"captured{i}") for i, extra in enumerate(extras)]
    with m.If(advance & valid):
        with m.If(last):
            m.d.sync += [acc.eq(0), flagged.eq(0), result.eq(total), result_flag.eq(total_flag),
                         *(c.eq(e) for c, e in zip(captured, extras))]
        with m.Else():
            m.d.sync += [acc.eq(total), flagged.eq(total_flag)]
    with m.If(advance):
        m.d.sync += result_valid.eq(valid & last)
    return result, result_flag, result_valid, captured
