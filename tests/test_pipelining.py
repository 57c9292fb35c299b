"""Frequency-directed pipelining: the plan (sqhw.hdl.timing) and the pipelined generators in
Amaranth's simulator against sqhw.ref, one input per cycle (the exhaustive Verilator checks
at a pipelined latency are in test_rtl.py)."""

import numpy as np
import pytest
from amaranth.hdl import Value
from amaranth.sim import Simulator

from sqhw import ref
from sqhw.formats import Fixed, parse
from sqhw.hdl import (BlockDotProduct, DotProduct, DyadicRequantizer, MinifloatToFixed,
                      Multiplier, Requantizer)
from sqhw.hdl.sparse_chain import SparseDSPChain
from sqhw.hdl.pipeline import unused
from sqhw.hdl.timing import Segment, estimate_mhz, plan

TARGETS = [10, 50, 100, 150, 200, 250, 300]


def _stream(dut, drive: dict, read: list, latency: int):
    """One input row per cycle; the outputs `latency` cycles later, row by row."""
    n = len(next(iter(drive.values())))
    out = {name: [] for name in read}

    async def bench(ctx):
        for i in range(n + latency):
            if i < n:
                for name, values in drive.items():
                    ctx.set(Value.cast(getattr(dut, name)), int(values[i]))
            if i >= latency:
                for name in read:
                    out[name].append(ctx.get(Value.cast(getattr(dut, name))))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return {k: np.array(v, dtype=object) for k, v in out.items()}


def _signed_values(rng, bits: int, n: int) -> np.ndarray:
    """n signed integers of `bits` bits (Python ints), their magnitudes spread over every
    scale so that every normalising shift is used."""
    values = []
    for _ in range(n):
        word = int.from_bytes(rng.bytes((bits + 7) // 8), "little") % (1 << bits)
        word -= (word >> (bits - 1)) << bits  # two's complement
        values.append(word >> int(rng.integers(0, bits)))
    return np.array(values, dtype=object)


def test_plan_places_a_register_where_the_next_segment_would_not_fit():
    segments = [Segment("a", 3.0), Segment("b", 3.0), Segment("acc", 2.0, registered=True),
                Segment("c", 4.0)]
    assert plan(segments, 50) == (0, 0, 0, 0)
    assert plan(segments, 150) == (1, 0, 0, 0)  # a | b + acc | c
    assert estimate_mhz(segments, (1, 0, 0, 0)) == round(1000 / (5.0 + 1.1), 1)


BUILDERS = {
    "mul int8": lambda **kw: Multiplier(parse("int8"), parse("int8"), **kw),
    "mul e5m2": lambda **kw: Multiplier(parse("float8_e5m2"), parse("float8_e5m2"), **kw),
    "cvt e4m3fn": lambda **kw: MinifloatToFixed(parse("float8_e4m3fn"), **kw),
    "rq -> e4m3fn": lambda **kw: Requantizer(Fixed(47, 18), parse("float8_e4m3fn"), **kw),
    "rq -> int8": lambda **kw: Requantizer(Fixed(24, 10), parse("int8"), **kw),
    "dyadic": lambda **kw: DyadicRequantizer(Fixed(24, 0), parse("int8"), shift=20, **kw),
    "mac e4m3fn": lambda **kw: DotProduct(parse("float8_e4m3fn"), parse("float8_e4m3fn"),
                                          1024, parse("float8_e4m3fn"), **kw),
    "block mxfp8": lambda **kw: BlockDotProduct(parse("mxfp8_e4m3"), parse("mxfp8_e4m3"),
                                                parse("float8_e4m3fn"), **kw),
    "block nvfp4": lambda **kw: BlockDotProduct(parse("nvfp4"), parse("nvfp4"),
                                                parse("float8_e4m3fn"), **kw),
    "chain": lambda **kw: SparseDSPChain(parse("int8"), parse("int8"), m=8, chain=8,
                                         max_k=4096, out_fmt=parse("int8"), **kw),
}


@pytest.mark.parametrize("kind", BUILDERS)
def test_stage_count_grows_with_target(kind):
    """No added register at low targets (today's combinational datapath), more as the target
    rises, and the model's own Fmax estimate meets every target it can."""
    build = BUILDERS[kind]
    duts = [unused(build(target_mhz=t)) for t in TARGETS]
    added = [sum(dut.registers) for dut in duts]
    assert added[0] == 0
    assert added == sorted(added) and added[-1] > added[0], added
    for t, dut in zip(TARGETS, duts):
        if t <= 150:
            assert dut.estimated_mhz >= t, (t, dut.estimated_mhz)


def test_target_and_stages_are_exclusive():
    with pytest.raises(ValueError, match="give one of stages, target_mhz"):
        Multiplier(parse("int8"), parse("int8"), stages=1, target_mhz=100)
    with pytest.raises(ValueError, match="target_mhz: expected a frequency"):
        Multiplier(parse("int8"), parse("int8"), target_mhz=0)
    with pytest.raises(ValueError, match="registers: expected 5 counts"):
        Multiplier(parse("int8"), parse("int8"), registers=(1,))


@pytest.mark.parametrize("a_name,b_name,target", [("int8", "int8", 250),
                                                  ("float8_e5m2", "float8_e5m2", 250),
                                                  ("float8_e4m3fn", "int8", 250),
                                                  ("float4_e2m1fn", "uint4", 300)])
def test_pipelined_multiplier_matches_ref(a_name, b_name, target, rng):
    a_fmt, b_fmt = parse(a_name), parse(b_name)
    dut = Multiplier(a_fmt, b_fmt, target_mhz=target)
    assert dut.product == "logic" and dut.latency >= 2
    a = rng.integers(0, 1 << a_fmt.bits, 1500)
    b = rng.integers(0, 1 << b_fmt.bits, 1500)
    got = _stream(dut, {"a": a, "b": b}, ["p", "special"], dut.latency)
    finite = np.isfinite(a_fmt.table[a]) & np.isfinite(b_fmt.table[b])
    product = got["p"].astype(np.int64)
    np.testing.assert_array_equal(got["special"].astype(bool), ~finite, strict=True)
    np.testing.assert_array_equal(product[finite], ref.mul(a[finite], a_fmt, b[finite], b_fmt)
                                  .astype(np.int64), strict=True)
    assert product.size == 1500


def test_pipelined_converters_match_ref(rng):
    checked = 0
    fmt = parse("float8_e5m2")
    dut = MinifloatToFixed(fmt, target_mhz=300)
    assert dut.latency >= 1
    codes = np.arange(256)
    got = _stream(dut, {"i": codes}, ["o", "special"], dut.latency)
    finite = np.isfinite(fmt.table)
    np.testing.assert_array_equal(got["o"][finite].astype(np.int64),
                                  ref.to_ints(codes[finite], fmt), strict=True)
    checked += got["o"].size
    for in_fmt, out_name, mode in [(Fixed(47, 18), "float8_e4m3fn", "rne"),
                                   (Fixed(100, 40), "float8_e5m2", "stochastic"),
                                   (Fixed(24, 10), "int8", "rna")]:
        out = parse(out_name)
        dut = Requantizer(in_fmt, out, rounding=mode, saturate=False, random_bits=5,
                          target_mhz=250)
        assert dut.latency >= 2
        ints = _signed_values(rng, in_fmt.bits, 1200)
        random = rng.integers(0, 32, ints.size)
        drive = {"i": ints, **({"random": random} if mode == "stochastic" else {})}
        got = _stream(dut, drive, ["o"], dut.latency)["o"].astype(np.int64)
        want = ref.requantize(ints, in_fmt.frac_bits, out, rounding=mode, saturate=False,
                              random=random, random_bits=5)
        np.testing.assert_array_equal(got, want, strict=True)
        checked += got.size
    dut = DyadicRequantizer(Fixed(24, 0), parse("int8"), shift=20, target_mhz=250)
    assert dut.product == "logic"
    i = rng.integers(-(1 << 23), 1 << 23, 1000)
    mult = rng.integers(0, 1 << 16, 1000)
    zp = rng.integers(-256, 256, 1000)
    got = _stream(dut, {"i": i, "m": mult, "zero_point": zp}, ["o"], dut.latency)
    want = np.array([ref.requantize_dyadic(np.array([a]), int(m), 20, parse("int8"),
                                           zero_point=int(z))[0] for a, m, z in zip(i, mult, zp)])
    np.testing.assert_array_equal(got["o"].astype(np.int64), want.astype(np.int64), strict=True)
    checked += got["o"].size
    assert checked == 256 + 3 * 1200 + 1000


def test_gen_target_mhz_writes_the_plan_into_the_manifest(tmp_path, capsys):
    import json

    from sqhw.cli import main

    assert main(["gen", "mul", "--a", "int8", "--b", "int8", "--target-mhz", "200",
                 "-o", str(tmp_path / "m")]) == 0
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    params = manifest["parameters"]
    assert params["target_mhz"] == 200 and params["stages"] is None
    assert params["product"] == "logic" and manifest["latency"] == sum(params["registers"]) > 0
    assert params["estimated_mhz"] >= 200
    capsys.readouterr()
    for bad in (["--target-mhz", "0"], ["--target-mhz", "fast"],
                ["--target-mhz", "200", "--stages", "1"]):
        try:
            code = main(["gen", "mul", "--a", "int8", "--b", "int8", *bad,
                         "-o", str(tmp_path / "bad")])
        except SystemExit as exit:  # argparse refuses the value itself
            code = exit.code
        assert code == 2
        assert "--target-mhz" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("m,registers", [(8, (1, 1)), (8, (0, 2)), (4, (1,)), (2, (1,))])
def test_index_muxes_in_steps_pick_the_indexed_activation(m, registers, rng):
    """IndexMuxBank with registers after its 4:1 index steps: every slot's output, `latency`
    cycles later, is the activation its index picks in the group its run-time n gives it."""
    from sqhw.hdl.sparse_chain import IndexMuxBank

    chain, rows = 8, 300
    dut = IndexMuxBank(parse("int8"), m=m, chain=chain, registers=registers)
    acts = rng.integers(0, 256, (rows, chain * m))
    indices = rng.integers(0, m, (rows, chain))
    n_log2 = rng.integers(0, int(np.log2(m)) + 1, rows)
    pack = lambda words, bits: [sum(int(w) << (bits * i) for i, w in enumerate(row))
                                for row in words]
    got = _stream(dut, {"acts": pack(acts, 8), "indices": pack(indices, int(np.log2(m)) or 1),
                        "n_log2": n_log2}, ["selected"], sum(registers))["selected"]
    got = np.array([[(int(word) >> (8 * c)) & 0xFF for c in range(chain)] for word in got])
    want = np.zeros((rows, chain), dtype=np.int64)
    for r in range(rows):
        for c in range(chain):
            first = (c >> int(n_log2[r])) * m
            want[r, c] = acts[r, first + indices[r, c]] if first < chain * m else 0
    np.testing.assert_array_equal(got, want, strict=True)
    assert got.size == rows * chain


def _chain_rows(dut, nm, rows: int, k: int, rng):
    """Random N:M rows (rows = dut.lanes * blocks) of int8 weights against one int8 column:
    the chain's beats per row block and the accumulators sqhw.ref expects, (blocks, lanes)."""
    from sqhw.hdl.sparse_chain import beats
    from sqhw.sparsity import NM

    int8 = parse("int8")
    nm = NM.parse(nm)
    w = int8.encode(nm.prune(rng.standard_normal((rows, k)) * 40), saturate=True)
    x = rng.integers(0, 256, k)
    packed = nm.pack(w, int8)
    stream = beats(packed.values, packed.indices, x, nm, dut.chain, 0, 0)
    want = ref.sparse_matmul(packed, x[:, None], int8)[:, 0].reshape(-1, dut.lanes)
    return stream, want


def _run_chain(dut, nm, stream, blocks: int, p_valid: float, p_ready: float, rng,
               cycles: int):
    """Drive the row blocks' beats (each stream offering with probability p_valid, the sink
    ready with probability p_ready) for `cycles` cycles; returns the accumulators taken
    (blocks, lanes), the cycle each beat entered and the cycles each result was taken."""
    lanes, count = dut.lanes, stream["last"].size
    taken, entered, results = [], [], []

    async def bench(ctx):
        ctx.set(dut.n_log2, int(np.log2(int(nm.split(":")[0]))))
        beat, offer_acts, offer_weights = 0, False, False
        for cycle in range(cycles):
            total = blocks * count
            offer_acts = beat < total and (offer_acts or rng.random() < p_valid)
            offer_weights = beat < total and (offer_weights or rng.random() < p_valid)
            b, block = beat % count, beat // count
            if beat < total:
                for j in range(dut.chain * dut.m):
                    ctx.set(Value.cast(dut.acts.payload[j]), int(stream["acts"][b, j]))
                for lane in range(lanes):
                    row = block * lanes + lane
                    for c in range(dut.chain):
                        ctx.set(Value.cast(dut.weights.payload.values[lane][c]),
                                int(stream["values"][row, b, c]))
                        ctx.set(dut.weights.payload.indices[lane][c],
                                int(stream["indices"][row, b, c]))
                ctx.set(dut.weights.payload.last, int(stream["last"][b]))
            ctx.set(dut.acts.valid, offer_acts)
            ctx.set(dut.weights.valid, offer_weights)
            ready = rng.random() < p_ready
            ctx.set(dut.result.ready, ready)
            if ctx.get(dut.result.valid) and ready:
                taken.append([ctx.get(dut.result.payload.acc[lane]) for lane in range(lanes)])
                results.append(cycle)
            if offer_acts and offer_weights and ctx.get(dut.acts.ready):
                assert ctx.get(dut.weights.ready)
                entered.append(cycle)
                beat, offer_acts, offer_weights = beat + 1, False, False
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return np.array(taken, dtype=np.int64).reshape(-1, lanes), entered, results


@pytest.mark.parametrize("pipe", [{"stages": 1}, {"target_mhz": 250}],
                         ids=["stages1", "target250"])
def test_chain_never_stalls_and_its_queue_keeps_every_result(pipe, rng):
    """The chain's datapath has no clock enable: rows of one beat each (every beat ends a
    row, a result per cycle) enter one per cycle while the sink is ready, each result
    exactly `latency` cycles after its beat; with the sink never ready the queue takes
    `result_queue_depth` rows and then refuses the next; under random valid / ready every
    result is still the exact one, in order."""
    int8 = parse("int8")
    dut = SparseDSPChain(int8, int8, m=4, chain=4, max_k=64, out_fmt=int8, lanes=2, **pipe)
    checked = 0
    # 4:4 with K = 4: one beat per row block
    stream, want = _chain_rows(dut, "4:4", 2 * 40, 4, rng)
    got, entered, results = _run_chain(dut, "4:4", stream, 40, 1.0, 1.0, rng,
                                       40 + dut.latency + 4)
    assert entered == list(range(40))  # one beat per cycle, never refused
    assert results == [c + dut.latency for c in entered]
    np.testing.assert_array_equal(got, want, strict=True)
    checked += got.size

    depth = dut.result_queue_depth
    got, entered, results = _run_chain(dut, "4:4", stream, 40, 1.0, 0.0, rng, 3 * depth)
    assert entered == list(range(depth)) and results == []

    for nm, k, blocks in (("4:4", 4, 60), ("2:4", 36, 12), ("1:4", 64, 8)):
        stream, want = _chain_rows(dut, nm, 2 * blocks, k, rng)
        got, _, _ = _run_chain(dut, nm, stream, blocks, 0.7, 0.3, rng,
                               60 * blocks * stream["last"].size + 200)
        np.testing.assert_array_equal(got, want, strict=True)
        checked += got.size
    assert checked == 2 * (40 + 60 + 12 + 8)


def test_chain_plan_puts_the_range_test_and_the_clamp_in_two_cycles():
    """On ECP5 the 4-lane int8 chain's range test and clamp took 6.3 ns between registers, in
    one cycle (135.9 MHz of 150): the plan at 150 MHz now registers the test's result."""
    int8 = parse("int8")
    dut = unused(SparseDSPChain(int8, int8, m=8, chain=8, max_k=4096, out_fmt=int8, lanes=4,
                                target_mhz=150))
    rq = dut.requantizers[0]
    names = [s.name for s in rq.segments()]
    assert names[-2:] == ["compare", "saturate"]
    assert rq.registers[-2:] == (1, 0)
    # the clamp and the NaN/Inf pick, then the queue's push register: the path ends there
    assert dut._result_segments()[-1].registered and dut.pipeline_latency == (
        dut.select_registers + dut.multiply_stages + dut.chain + 1 + rq.latency)
