"""An exact integer product in logic: shifted partial products summed by a tree of adders,
with a register allowed after each level (the multiplier that frequency-directed pipelining
uses where a hard multiplier used combinationally cannot meet the clock: ECP5's MULT18X18D,
which Yosys instantiates with its internal registers off, takes ~6.9 ns register to register).

Written as AND gates and adds (no `*`), so synthesis keeps it in LUTs and carry chains.
"""

from __future__ import annotations

import math

from amaranth.hdl import Module, Mux, Signal, Value

from .pipeline import delay


def tree_levels(b_bits: int) -> int:
    """Adder levels summing b_bits partial products (pairs per level)."""
    return max(1, math.ceil(math.log2(max(b_bits, 1)))) if b_bits > 1 else 1


def product_tree(m: Module, a: Value, b: Value, registers, name: str,
                 enable: Value | None = None) -> Value:
    """a * b exactly (the shape Amaranth gives a * b), from len(b) partial products summed
    pairwise; registers[k] registers after adder level k (len(registers) == tree_levels)."""
    shape = (a * b).shape()
    b_bits = len(b)
    b_signed = b.shape().signed
    # partial products: a where b's bit i is set, weighted 2**i; a signed b's top bit weighs
    # -2**(n-1), so that term is subtracted
    terms = []
    for i in range(b_bits):
        pp = Mux(b[i], a, 0)
        terms.append((pp << i, b_signed and i == b_bits - 1))
    level = 0
    while len(terms) > 1 or level == 0:
        merged = []
        for j in range(0, len(terms), 2):
            if j + 1 == len(terms):
                (x, x_neg), = terms[j:j + 1]
                total = Signal(shape, name=f"{name}_l{level}_{j // 2}")
                m.d.comb += total.eq(-x if x_neg else x)
            else:
                (x, x_neg), (y, y_neg) = terms[j], terms[j + 1]
                total = Signal(shape, name=f"{name}_l{level}_{j // 2}")
                if x_neg:  # only the last term can be negative: x is never it when y exists
                    raise AssertionError("partial product order")
                m.d.comb += total.eq(x - y if y_neg else x + y)
            merged.append((delay(m, total, registers[level], f"{name}_l{level}_{j // 2}",
                                 enable), False))
        terms, level = merged, level + 1
    return terms[0][0]
