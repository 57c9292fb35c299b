"""Stimulus and expected outputs of SparseDSPChain runs, shared by the chain's testbench
(sim/tb_dsp_chain.py) and its Vitis kernel's (sim/tb_axi_kernel.py).

A run computes rows r0 .. r0+lanes-1 of an N:M-pruned W (rows x K) times one column of X
(K x cols) per result beat: the activation beats carry each window once for all lanes, the
weight beats every lane's packed slots. Beats are the chain's payload words (Python ints),
every field placed at the offset the design's manifest gives (the payload layouts of its
signature, sqhw.hdl.emit.layout_fields). Expected values come from sqhw.ref.sparse_matmul,
requantized as the chain does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import ref
from ..formats import parse
from ..hdl.sparse_chain import beats
from .lanes import unpack
from .streams import fields_word


@dataclass
class ChainRun:
    """One run's beats, grouped per result beat (one row block of one column of X), and the
    accumulators it must produce, (result beats, lanes); `real` marks the rows that exist
    (the last row block is filled with zero rows)."""
    rows: int
    k: int
    cols: int
    lanes: int
    padded: int             # rows rounded up to whole row blocks
    slots: int              # N:M work of all lanes: padded * cols * groups * n
    act_rows: list[list[int]]
    weight_rows: list[list[int]]
    want_acc: np.ndarray
    real: np.ndarray

    @property
    def act_words(self) -> list[int]:
        return [word for row in self.act_rows for word in row]

    @property
    def weight_words(self) -> list[int]:
        return [word for row in self.weight_rows for word in row]

    @property
    def result_beats(self) -> int:
        return len(self.weight_rows)

    @property
    def outputs(self) -> int:
        """Output values the run checks: rows x cols."""
        return int(self.real.sum())


def chain_blocks(parameters: dict, payloads: dict, w: np.ndarray, x: np.ndarray, nm
                 ) -> tuple[list[list[int]], list[list[int]], int]:
    """The two input streams of a chain for codes W (rows, K) @ X (K, cols), grouped per
    result beat: (acts words, weights words) per block of `lanes` rows of one group of
    `pack` columns of X (the last group filled with zero columns), and the rows padded to a
    multiple of lanes. `payloads` are the manifest's acts and weights payload fields (a
    weights payload without `last`, as a Vitis kernel's TDATA, gets it above its top field:
    TLAST). Result beat i holds rows (i % blocks) * lanes .. + lanes - 1 of column group
    i // blocks."""
    lanes, chain, pack = parameters["lanes"], parameters["chain"], parameters.get("pack", 1)
    w_fmt, x_fmt = parse(parameters["w"]), parse(parameters["x"])
    w_zero, x_zero = int(w_fmt.encode(np.zeros(1))[0]), int(x_fmt.encode(np.zeros(1))[0])
    acts_payload = payloads["acts"]
    weights_payload = dict(payloads["weights"])
    if "last" not in weights_payload:
        top = max(f["offset"] + f["width"] for f in weights_payload.values())
        weights_payload["last"] = {"offset": top, "width": 1}
    rows, k = w.shape
    padded = -(-rows // lanes) * lanes  # the last row block is filled with zero rows
    w = np.concatenate([w, np.full((padded - rows, k), w_zero, dtype=w.dtype)])
    packed = nm.pack(w, w_fmt)
    cols = -(-x.shape[1] // pack) * pack
    x = np.concatenate([x, np.full((k, cols - x.shape[1]), x_zero, dtype=x.dtype)], axis=1)
    act_rows, weight_rows = [], []
    for j in range(0, cols, pack):
        per_column = [beats(packed.values, packed.indices, x[:, j + q], nm, chain, w_zero,
                            x_zero) for q in range(pack)]
        b = per_column[0]  # the weight side is the same for every column
        acts = fields_word(acts_payload, {
            "acts": np.concatenate([c["acts"] for c in per_column], axis=1)})
        # every row block's weight beats in one call: (blocks, beats, lanes, chain)
        blocks, count = padded // lanes, b["last"].size
        by_block = lambda v: v.reshape(blocks, lanes, count, chain).transpose(0, 2, 1, 3)  # noqa: E731
        words = fields_word(weights_payload, {
            "values": by_block(b["values"]).reshape(blocks * count, lanes, chain),
            "indices": by_block(b["indices"]).reshape(blocks * count, lanes, chain),
            "last": np.tile(b["last"], blocks)})
        act_rows += [acts] * blocks
        weight_rows += [words[i * count:(i + 1) * count] for i in range(blocks)]
    return act_rows, weight_rows, padded


def chain_beats(manifest: dict, w: np.ndarray, x: np.ndarray, nm
                ) -> tuple[list[int], list[int], int]:
    """`chain_blocks` of a chain's manifest, flattened: (acts words, weights words, padded
    rows), every field at the offset the manifest gives."""
    payloads = {name: manifest["inputs"][name]["payload"] for name in ("acts", "weights")}
    act_rows, weight_rows, padded = chain_blocks(manifest["parameters"], payloads, w, x, nm)
    return ([word for row in act_rows for word in row],
            [word for row in weight_rows for word in row], padded)


def chain_run(parameters: dict, payloads: dict, nm, rows: int, k: int, cols: int,
              rng: np.random.Generator, w=None, x=None) -> ChainRun:
    """Random N:M weights (rows x k) and activations (k x cols) unless codes w / x are given;
    `parameters` is a chain manifest's (w, x, lanes, chain), `payloads` its acts and weights
    payload fields (see `chain_blocks`)."""
    lanes = parameters["lanes"]
    w_fmt, x_fmt = parse(parameters["w"]), parse(parameters["x"])
    if w is None:
        w = w_fmt.encode(nm.prune(rng.standard_normal((rows, k)) * 40), saturate=True)
        x_finite = np.flatnonzero(np.isfinite(x_fmt.table))
        x = rng.choice(x_finite, (k, cols))
    rows, k, cols = w.shape[0], w.shape[1], x.shape[1]
    act_rows, weight_rows, padded = chain_blocks(parameters, payloads, w, x, nm)
    w_zero = int(w_fmt.encode(np.zeros(1))[0])
    w = np.concatenate([w, np.full((padded - rows, k), w_zero, dtype=w.dtype)])
    packed = nm.pack(w, w_fmt)
    want = ref.sparse_matmul(packed, x, x_fmt)  # (padded, cols)
    # result beat i, lane l is row (i % blocks) * lanes + l of column i // blocks
    want_acc = np.concatenate([want[:, j].reshape(-1, lanes) for j in range(cols)])
    real = np.concatenate([np.arange(padded).reshape(-1, lanes) < rows] * cols)
    return ChainRun(rows, k, cols, lanes, padded, padded * cols * packed.values.shape[1] * nm.n,
                    act_rows, weight_rows, want_acc, real)


def field_values(words, field: dict) -> np.ndarray:
    """(results, count) values of a manifest payload field out of Python-int words."""
    mask = (1 << field["width"]) - 1
    return unpack([(w >> field["offset"]) & mask for w in words], field["count"], field["bits"],
                  bool(field.get("signed")))


def check_results(tally, words: list[int], run: ChainRun, result_fields: dict,
                  parameters: dict) -> None:
    """Every real output of the run, bit for bit: its accumulator against sqhw.ref and its
    code against that accumulator requantized as the chain does (one vector per output)."""
    acc = field_values(words, result_fields["acc"])
    code = field_values(words, result_fields["code"])
    if acc.shape != run.want_acc.shape:
        raise AssertionError(f"{acc.shape[0]} result beats of {acc.shape[1]} lanes, expected "
                             f"{run.want_acc.shape[0]} of {run.want_acc.shape[1]}")
    want = run.want_acc[run.real]
    tally.check(acc[run.real], want)
    tally.check(code[run.real], ref.requantize(want, result_fields["acc"]["frac_bits"],
                                               parse(parameters["out"]),
                                               rounding=parameters["rounding"],
                                               saturate=parameters["saturate"]), count=False)
