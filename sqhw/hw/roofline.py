"""The roofline of an N:M sparse chain design on a board, for one layer shape.

Compute roof: every multiply stage does one multiply of a kept (non-zero) weight per clock,
and each kept weight stands for m / n weights of the dense layer, so the peak in dense-
equivalent MAC/s is multipliers x clock x m / n. Memory roof: the layer's bytes cross the
board's fastest external memory once (weights packed as n values + n indices of log2(m) bits
per group of m, activations and outputs in their formats: ideal on-chip reuse), so the rate
it allows is bandwidth / (bytes per dense-equivalent MAC). The lower roof is the bound.

    >>> from sqhw.hw.boards import load_board
    >>> from sqhw.hw.design import DSPChainDesign
    >>> design = DSPChainDesign(lanes=564, chain=8)
    >>> row = roofline(design, load_board("alveo_u280"))
    >>> row["peak_macs_per_s"], round(row["bytes_per_mac"], 4), row["bound"]
    (2707200000000.0, 0.6255, 'memory')
"""

from __future__ import annotations

import math

from .boards import Board

__all__ = ["ideal_cycles", "roofline"]


def ideal_cycles(multipliers: int, n: int, m: int, rows: int, k: int, cols: int,
                 latency: int) -> int:
    """Cycles of W (rows x k) @ X (k x cols) on the chain when every multiplier takes a kept
    weight each cycle (n of every m along k), plus the pipeline fill; the chain reaches it
    within 2% in simulation (README, N:M chain figures).

    >>> ideal_cycles(32, 2, 4, rows=64, k=512, cols=1, latency=11)
    523
    """
    kept = rows * cols * -(-k // m) * n
    return -(-kept // multipliers) + latency


def roofline(design, board: Board) -> dict:
    from ..formats import parse

    n, m = design.n, design.m
    clock_mhz = design.clock_mhz(board)  # target_mhz, else the board's clock
    clock_hz = clock_mhz * 1e6
    peak = design.multipliers * clock_hz * m / n
    w_bits, x_bits, o_bits = (parse(name).bits for name in (design.weight, design.act,
                                                              design.out))
    index_bits = max(1, int(math.log2(m)))
    rows, k, cols = design.rows, design.k, design.cols
    traffic = {"weights": rows * -(-k // m) * n * (w_bits + index_bits) / 8,
               "activations": k * cols * x_bits / 8,
               "outputs": rows * cols * o_bits / 8}
    macs = rows * k * cols
    bytes_per_mac = sum(traffic.values()) / macs
    row = {"multipliers": design.multipliers, "clock_mhz": clock_mhz, "nm": design.nm,
           "dense_equivalent_per_multiply": m / n, "peak_macs_per_s": peak,
           "layer": {"rows": rows, "k": k, "cols": cols, "dense_macs": macs},
           "bytes": traffic, "bytes_per_mac": bytes_per_mac,
           "packing": f"{w_bits}-bit values + {index_bits}-bit indices, {n} per group of {m}"}
    banks = [bank for bank in board.memory if bank.kind != "none"]
    if not banks:
        row.update(memory=None, memory_bound_macs_per_s=None, bound="compute",
                   attainable_macs_per_s=peak,
                   note="no external memory on the board: the layer must fit in on-chip RAM")
        return row
    bank = max(banks, key=lambda b: b.bandwidth_gbs)
    memory_bound = bank.bandwidth_gbs * 1e9 / bytes_per_mac
    row.update(memory={"kind": bank.kind, "bandwidth_gbs": bank.bandwidth_gbs},
               memory_bound_macs_per_s=memory_bound,
               bound="memory" if memory_bound < peak else "compute",
               attainable_macs_per_s=min(peak, memory_bound),
               layer_seconds=macs / min(peak, memory_bound))
    return row
