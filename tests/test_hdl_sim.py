"""Fast path: the generators in Amaranth's own simulator against sqhw.ref (no Verilator)."""

import json

import numpy as np
import pytest
from amaranth.hdl import Value
from amaranth.sim import Simulator

from sqhw import ref
from sqhw.cli import main
from sqhw.formats import DETERMINISTIC_MODES, ROUNDING_MODES, Fixed, parse
from sqhw.hdl import DotProduct, MinifloatToFixed, Multiplier, Requantizer, layout_of


def _comb(dut, drive: dict, read: list):
    """Apply each row of inputs to a combinational design; return the outputs."""
    out = {name: [] for name in read}
    n = len(next(iter(drive.values())))

    async def bench(ctx):
        for i in range(n):
            for name, values in drive.items():
                ctx.set(Value.cast(getattr(dut, name)), int(values[i]))
            for name in read:
                out[name].append(ctx.get(Value.cast(getattr(dut, name))))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return {k: np.array(v, dtype=object) for k, v in out.items()}


@pytest.mark.parametrize("a_name,b_name", [("float8_e4m3fn", "int8"), ("float4_e2m1fn", "uint4"),
                                           ("float6_e3m2fn", "float8_e5m2"), ("int4", "int8")])
def test_multiplier_matches_ref(a_name, b_name, rng):
    a_fmt, b_fmt = parse(a_name), parse(b_name)
    a = rng.integers(0, 1 << a_fmt.bits, 3000)
    b = rng.integers(0, 1 << b_fmt.bits, 3000)
    got = _comb(Multiplier(a_fmt, b_fmt), {"a": a, "b": b}, ["p", "special"])
    finite = np.isfinite(a_fmt.table[a]) & np.isfinite(b_fmt.table[b])
    special, product = got["special"].astype(bool), got["p"].astype(np.int64)
    np.testing.assert_array_equal(special, ~finite, strict=True)
    np.testing.assert_array_equal(product[finite],
                                  ref.mul(a[finite], a_fmt, b[finite], b_fmt).astype(np.int64),
                                  strict=True)
    np.testing.assert_array_equal(product[~finite], np.zeros((~finite).sum(), dtype=np.int64),
                                  strict=True)
    assert product.size == 3000


def test_minifloat_to_fixed_every_code():
    checked = 0
    for name in ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float6_e2m3fn"]:
        fmt = parse(name)
        codes = np.arange(1 << fmt.bits)
        got = _comb(MinifloatToFixed(fmt), {"i": codes}, ["o", "special"])
        finite = np.isfinite(fmt.table)
        np.testing.assert_array_equal(got["o"][finite].astype(np.int64),
                                      ref.to_ints(codes[finite], fmt), strict=True)
        np.testing.assert_array_equal(got["special"].astype(bool), ~finite, strict=True)
        checked += got["o"].size
    assert checked == 3 * 256 + 64


CASES = [(Fixed(12, 6), "float8_e4m3fn"), (Fixed(16, 14), "float8_e5m2"),
         (Fixed(10, 2), "float4_e2m1fn"), (Fixed(12, 6), "int8"),
         (Fixed(12, 3, signed=False), "uint4"), (Fixed(8, 0), "fixed<s,6,4>"),
         (Fixed(16, 20), "float8_e4m3fnuz"), (Fixed(16, 0), "float8_e4m3"),
         (Fixed(4, 20), "float8_e4m3fn")]


@pytest.mark.parametrize("in_fmt,out_name", CASES, ids=[f"{c[0].name}-{c[1]}" for c in CASES])
def test_requantizer_matches_ref(in_fmt, out_name, rng):
    out = parse(out_name)
    checked = 0
    for mode in ROUNDING_MODES:
        for saturate in (True, False):
            n = 1 << in_fmt.bits
            codes = np.arange(n) if n <= 2048 else rng.integers(0, n, 2048)
            ints = in_fmt.to_int(codes)
            random = rng.integers(0, 32, codes.size)
            dut = Requantizer(in_fmt, out, rounding=mode, saturate=saturate, random_bits=5)
            drive = {"i": ints, **({"random": random} if mode == "stochastic" else {})}
            got = _comb(dut, drive, ["o"])["o"].astype(np.int64)
            want = ref.requantize(ints, in_fmt.frac_bits, out, rounding=mode, saturate=saturate,
                                  random=random, random_bits=5)
            np.testing.assert_array_equal(got, want, strict=True, err_msg=str(
                (mode, saturate, ints[got != want][:5])))
            checked += got.size
    assert checked == 12 * min(1 << in_fmt.bits, 2048)  # every code, or 2048 drawn


@pytest.mark.parametrize("pipe", [{"stages": 2}, {"target_mhz": 250}],
                         ids=["stages2", "target250"])
def test_dot_product_with_backpressure(pipe, rng):
    a_fmt, b_fmt, out_fmt = parse("float8_e4m3fn"), parse("int8"), parse("float8_e5m2")
    dut = DotProduct(a_fmt, b_fmt, 32, out_fmt, **pipe)
    fa = np.flatnonzero(np.isfinite(a_fmt.table))
    vectors = [(rng.choice(fa, n), rng.integers(0, 256, n)) for n in rng.integers(1, 33, 30)]
    want = [int(ref.dot(a, a_fmt, b, b_fmt)) for a, b in vectors]
    got = []

    async def driver(ctx):
        for a, b in vectors:
            for i, (x, y) in enumerate(zip(a, b)):
                ctx.set(Value.cast(dut.terms.payload.a), int(x))
                ctx.set(Value.cast(dut.terms.payload.b), int(y))
                ctx.set(dut.terms.payload.last, int(i == len(a) - 1))
                ctx.set(dut.terms.valid, 1)
                await ctx.tick().until(dut.terms.ready)
                ctx.set(dut.terms.valid, 0)
                if rng.random() < 0.3:
                    await ctx.tick()

    async def sink(ctx):
        while len(got) < len(vectors):
            ctx.set(dut.result.ready, int(rng.random() < 0.5))
            await ctx.tick()

    async def monitor(ctx):
        async for _, _, valid, ready, acc, code in ctx.tick().sample(
                dut.result.valid, dut.result.ready, dut.result.payload.acc,
                Value.cast(dut.result.payload.code)):
            if valid and ready:
                got.append((acc, code))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.add_testbench(sink)
    sim.add_process(monitor)
    sim.run_until(1e-8 * 5000)
    assert [g[0] for g in got] == want
    codes = ref.requantize(np.array(want), dut.accumulator.frac_bits, out_fmt)
    assert [g[1] for g in got] == codes.tolist()
    assert len(got) == 30


def test_layout_of_reads_the_format():
    layout = layout_of(parse("float8_e4m3fn"))
    assert {name: field.shape for name, field in layout} == {"man": 3, "exp": 4, "sign": 1}
    assert dict(layout)["exp"].offset == 3


def test_gen_is_deterministic_and_refuses_before_writing(tmp_path, capsys):
    args = ["gen", "mul", "--a", "float8_e4m3fn", "--b", "int8", "--stages", "2"]
    assert main(args + ["-o", str(tmp_path / "one")]) == 0
    assert main(args + ["-o", str(tmp_path / "two")]) == 0
    one = (tmp_path / "one" / "sqhw_mul.v").read_bytes()
    assert one == (tmp_path / "two" / "sqhw_mul.v").read_bytes() and len(one) > 1000
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert manifest["latency"] == 2 and manifest["clock"] == "clk"
    assert manifest["outputs"]["p"] == {"width": 26, "signed": True, "frac_bits": 9}
    assert manifest["inputs"]["a"]["format"] == "float8_e4m3fn"
    capsys.readouterr()
    for bad, message in [
        (["gen", "mul", "--a", "float8_e4m3fn", "--b", "int8", "--width", "20"], "needs 26 bits"),
        (["gen", "mul", "--a", "float9", "--b", "int8"], "unknown format name 'float9'"),
        (["gen", "cvt", "--from", "float8_e4m3fn", "--to", "int8"], "converts exactly to"),
        (["gen", "mac", "--a", "int8", "--b", "int8", "--out", "float8_e8m0fnu"], "has no zero"),
    ]:
        target = tmp_path / "refused"
        assert main(bad + ["-o", str(target)]) == 2
        assert message in capsys.readouterr().err
        assert not target.exists()
    with pytest.raises(SystemExit):
        main(["gen", "mul", "--a", "int8", "--b", "int8", "--stages", "-1", "-o",
              str(tmp_path / "x")])


@pytest.mark.parametrize("mode", DETERMINISTIC_MODES)
@pytest.mark.parametrize("out_name,saturate", [("int8", True), ("uint8", True), ("int4", False)])
def test_dyadic_requantizer_matches_ref(mode, out_name, saturate, rng):
    from sqhw.hdl import DyadicRequantizer

    out = parse(out_name)
    dut = DyadicRequantizer(Fixed(20, 0), out, multiplier_bits=12, shift=15, rounding=mode,
                            saturate=saturate)
    acc = np.concatenate([rng.integers(-2**19, 2**19, 1500),
                          rng.integers(-31, 32, 500) << 14])  # with m = 1: exact ties
    mult = np.concatenate([rng.integers(0, 1 << 12, 1500), np.ones(500, dtype=np.int64)])
    zp = rng.integers(-8, 9, acc.size)
    got = _comb(dut, {"i": acc, "m": mult, "zero_point": zp}, ["o"])["o"].astype(np.int64)
    want = np.array([ref.requantize_dyadic(np.array([a]), int(m), 15, out, zero_point=int(z),
                                           rounding=mode, saturate=saturate)[0]
                     for a, m, z in zip(acc, mult, zp)])
    np.testing.assert_array_equal(got, want, strict=True, err_msg=str(
        (acc[got != want][:4], got[got != want][:4])))
    assert got.size == 1500 + 500


@pytest.mark.parametrize("name,out_name,mode,pipe", [
    ("mxfp4", "float8_e4m3fn", "rne", {"stages": 1}),
    ("mxfp8_e4m3", "float8_e5m2", "rtz", {"stages": 1}),
    ("nvfp4", "float8_e4m3fn", "rne", {"stages": 1}),
    ("mxint8", "int8", "floor", {"stages": 1}),
    ("mxfp8_e4m3", "float8_e4m3fn", "rne", {"target_mhz": 250}),
    ("nvfp4", "float8_e4m3fn", "rtz", {"target_mhz": 250})])
def test_block_dot_product_matches_ref(name, out_name, mode, pipe, rng):
    from sqhw.formats import BlockEncoded
    from sqhw.hdl import BlockDotProduct

    fmt, out = parse(name), parse(out_name)
    dut = BlockDotProduct(fmt, fmt, out, rounding=mode, **pipe)
    size, blocks = fmt.block_size, 12
    finite = np.flatnonzero(np.isfinite(fmt.element.table))
    a, b = rng.choice(finite, (blocks, size)), rng.choice(finite, (blocks, size))
    scales = np.flatnonzero(np.isfinite(fmt.scale_format.table))
    sa, sb = rng.choice(scales, blocks), rng.choice(scales, blocks)
    sa[:2], sb[:2] = scales.min(), scales.max()  # the extremes of the scale range
    exact = ref.block_dot(BlockEncoded(a, sa[:, None], 1.0), fmt,
                          BlockEncoded(b, sb[:, None], 1.0), fmt)
    want = ref.requantize(exact.ints, exact.frac_bits, out, rounding=mode).tolist()
    got = []

    async def driver(ctx):
        for i in range(blocks):
            for j in range(size):
                for port, value in (("a", a[i, j]), ("b", b[i, j]), ("sa", sa[i]),
                                    ("sb", sb[i]), ("last", j == size - 1)):
                    ctx.set(Value.cast(getattr(dut.terms.payload, port)), int(value))
                ctx.set(dut.terms.valid, 1)
                await ctx.tick().until(dut.terms.ready)
        ctx.set(dut.terms.valid, 0)

    async def sink(ctx):
        while len(got) < blocks:
            ctx.set(dut.result.ready, int(rng.random() < 0.7))
            await ctx.tick()

    async def monitor(ctx):
        async for _, _, valid, ready, code in ctx.tick().sample(
                dut.result.valid, dut.result.ready, Value.cast(dut.result.payload.code)):
            if valid and ready:
                got.append(code)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.add_testbench(sink)
    sim.add_process(monitor)
    sim.run_until(1e-8 * (blocks * size * 3 + 100 + 4 * dut.latency))
    assert got == want and len(got) == blocks


@pytest.mark.parametrize("pipe", [{"stages": 1}, {"target_mhz": 250}],
                         ids=["stages1", "target250"])
def test_sparse_dsp_chain_runs_every_pattern_of_one_build(pipe, rng):
    """Two lanes share the activation stream; the weight stream stalls now and then so the
    join of the two streams is exercised."""
    from sqhw.hdl.sparse_chain import SparseDSPChain, beats
    from sqhw.sparsity import NM

    int8 = parse("int8")
    dut = SparseDSPChain(int8, int8, m=8, chain=8, max_k=512, out_fmt=int8, lanes=2, **pipe)
    drain = dut.latency + 4
    assert dut.runtime_patterns == ["1:8", "2:8", "4:8", "8:8"]
    cases = []
    for pattern in dut.runtime_patterns:
        nm = NM.parse(pattern)
        w = int8.encode(nm.prune(rng.standard_normal((2, 77)) * 40), saturate=True)
        x = rng.integers(0, 256, 77)
        packed = nm.pack(w, int8)
        cases.append((nm, beats(packed.values, packed.indices, x, nm, 8, 0, 0),
                      ref.sparse_matmul(packed, x[:, None], int8)[:, 0].tolist()))
    got = []

    async def acts(ctx):
        for nm, stream, _ in cases:
            for b in range(stream["last"].size):
                for j in range(64):
                    ctx.set(Value.cast(dut.acts.payload[j]), int(stream["acts"][b, j]))
                ctx.set(dut.acts.valid, 1)
                await ctx.tick().until(dut.acts.ready)
            ctx.set(dut.acts.valid, 0)
            await ctx.tick().repeat(drain)  # drain before the pattern changes

    async def weights(ctx):
        for nm, stream, _ in cases:
            ctx.set(dut.n_log2, int(np.log2(nm.n)))
            for b in range(stream["last"].size):
                if b % 3 == 1:
                    await ctx.tick()  # a gap in the weight stream: the acts beat waits
                for lane in range(2):
                    for c in range(8):
                        ctx.set(Value.cast(dut.weights.payload.values[lane][c]),
                                int(stream["values"][lane, b, c]))
                        ctx.set(dut.weights.payload.indices[lane][c],
                                int(stream["indices"][lane, b, c]))
                ctx.set(dut.weights.payload.last, int(stream["last"][b]))
                ctx.set(dut.weights.valid, 1)
                await ctx.tick().until(dut.weights.ready)
                ctx.set(dut.weights.valid, 0)
            await ctx.tick().repeat(drain)

    async def monitor(ctx):
        ctx.set(dut.result.ready, 1)
        async for _, _, valid, acc in ctx.tick().sample(dut.result.valid,
                                                        dut.result.payload.acc):
            if valid:
                got.extend([acc[0], acc[1]])

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(acts)
    sim.add_testbench(weights)
    sim.add_process(monitor)
    sim.run_until(1e-8 * (400 + 8 * drain))
    assert got == [v for _, _, want in cases for v in want] and len(got) == 8


def _run_stream(dut, beats: list[dict], results: int, fields: tuple[str, ...]) -> list[tuple]:
    """Drive `beats` (payload field -> value) into dut.terms, take `results` results."""
    got = []

    async def driver(ctx):
        ctx.set(dut.result.ready, 1)
        for beat in beats:
            for port, value in beat.items():
                ctx.set(Value.cast(getattr(dut.terms.payload, port)), int(value))
            ctx.set(dut.terms.valid, 1)
            await ctx.tick().until(dut.terms.ready)
        ctx.set(dut.terms.valid, 0)

    async def monitor(ctx):
        signals = [Value.cast(getattr(dut.result.payload, f)) for f in fields]
        async for _, _, valid, *values in ctx.tick().sample(dut.result.valid, *signals):
            if valid:
                got.append(tuple(values))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.add_process(monitor)
    sim.run_until(1e-8 * (len(beats) + 50))
    return got[:results]


@pytest.mark.parametrize("out_name", ["float8_e5m2", "float8_e4m3fn", "int8"])
def test_nan_inf_terms_give_the_special_code(out_name, rng):
    """Every NaN/Inf code of a and of b against every code of the other operand (one-term
    dots), each special code of b inside three-term dots, and finite dots between them:
    special is 1 exactly where a term is NaN/Inf and code is then sqhw.ref.special_code(out)
    (NaN, else Inf, else 0), as sqhw verify's model says."""
    from sqhw.hdl.emit import design_mac
    from sqhw.verify.vectors import Vectors, expected

    dut, description = design_mac("float8_e4m3fn", "float8_e5m2", 4, out_name, stages=1)
    a_fmt, b_fmt = parse("float8_e4m3fn"), parse("float8_e5m2")
    special_a = np.flatnonzero(~np.isfinite(a_fmt.table))
    special_b = np.flatnonzero(~np.isfinite(b_fmt.table))
    finite_a, finite_b = (np.flatnonzero(np.isfinite(f.table)) for f in (a_fmt, b_fmt))
    dots = [[(s, b)] for s in special_a for b in range(256)]
    dots += [[(a, s)] for s in special_b for a in range(256)]
    dots += [[(rng.choice(finite_a), rng.choice(finite_b)), (a, s),
              (rng.choice(finite_a), rng.choice(finite_b))]
             for s in special_b for a in rng.choice(256, 16)]
    dots += [list(zip(rng.choice(finite_a, n), rng.choice(finite_b, n)))
             for n in rng.integers(1, 5, 64)]
    beats = [{"a": a, "b": b, "last": i == len(dot) - 1}
             for dot in dots for i, (a, b) in enumerate(dot)]
    vs = Vectors("mac", {n: np.array([beat[n] for beat in beats], dtype=np.int64)
                         for n in ("a", "b", "last")}, {})
    want = expected(description, vs)
    got = np.array(_run_stream(dut, beats, len(dots), ("code", "acc", "special")),
                   dtype=np.int64).reshape(-1, 3)
    np.testing.assert_array_equal(got[:, 2], want["special"], strict=True)
    np.testing.assert_array_equal(got[:, 0], want["code"], strict=True)
    np.testing.assert_array_equal(got[:, 1], want["acc"], strict=True)
    assert int(want["special"].sum()) == len(dots) - 64
    assert set(want["code"][want["special"] == 1]) == {ref.special_code(parse(out_name))}


@pytest.mark.parametrize("name,out_name", [("mxfp8_e4m3", "float8_e5m2"),
                                           ("nvfp4", "float8_e4m3fn"), ("mxint8", "int8")])
def test_nan_scales_and_elements_give_the_special_code(name, out_name, rng):
    """Every NaN/Inf scale code on either side, a NaN/Inf element at a random place, and
    finite blocks between them: special and code as sqhw verify's model says."""
    from sqhw.hdl.emit import design_mac
    from sqhw.verify.vectors import Vectors, expected

    dut, description = design_mac(name, name, 32, out_name, stages=1)
    fmt = parse(name)
    size, element, scale = fmt.block_size, fmt.element, fmt.scale_format
    finite_e = np.flatnonzero(np.isfinite(element.table))
    finite_s = np.flatnonzero(np.isfinite(scale.table))
    special_s = np.flatnonzero(~np.isfinite(scale.table))
    special_e = np.flatnonzero(~np.isfinite(element.table))
    blocks = []  # (a codes, b codes, sa, sb)

    def finite_block():
        return [rng.choice(finite_e, size), rng.choice(finite_e, size),
                rng.choice(finite_s), rng.choice(finite_s)]
    for s in special_s:
        for side in (2, 3):
            block = finite_block()
            block[side] = s
            blocks.append(block)
    for s in special_e:
        for side in (0, 1):
            block = finite_block()
            block[side][rng.integers(size)] = s
            blocks.append(block)
    blocks += [finite_block() for _ in range(6)]
    beats = [{"a": a[j], "b": b[j], "sa": sa, "sb": sb, "last": j == size - 1}
             for a, b, sa, sb in blocks for j in range(size)]
    vs = Vectors("block", {"a": np.concatenate([blk[0] for blk in blocks]),
                           "b": np.concatenate([blk[1] for blk in blocks]),
                           "sa": np.array([blk[2] for blk in blocks]),
                           "sb": np.array([blk[3] for blk in blocks]),
                           "last": np.array([bt["last"] for bt in beats], dtype=np.int64)}, {})
    want = expected(description, vs)
    got = np.array(_run_stream(dut, beats, len(blocks), ("code", "special")),
                   dtype=np.int64).reshape(-1, 2)
    np.testing.assert_array_equal(got[:, 1], want["special"], strict=True)
    np.testing.assert_array_equal(got[:, 0], want["code"], strict=True)
    assert int(want["special"].sum()) == len(blocks) - 6 > 0


def test_ports_are_format_layouts_and_the_manifest_reads_them():
    """Ports carry layout_of(fmt); the manifest's payload offsets and port fields are read
    from the component's own layouts (so they agree with the Verilog by construction)."""
    from amaranth.lib import data

    from sqhw.hdl.emit import design_mac, design_mul, layout_fields, payload_layout, ports_of

    e4m3, int8, e5m2 = parse("float8_e4m3fn"), parse("int8"), parse("float8_e5m2")
    mul, _ = design_mul("float8_e4m3fn", "int8")
    assert mul.signature.members["a"].shape == layout_of(e4m3)
    assert mul.signature.members["b"].shape == layout_of(int8)
    fields = {p["name"]: p.get("fields") for p in ports_of(mul)}
    assert fields["a"] == {"man": {"offset": 0, "width": 3}, "exp": {"offset": 3, "width": 4},
                           "sign": {"offset": 7, "width": 1}}
    assert fields["b"] == {"value": {"offset": 0, "width": 8}} and fields["p"] is None
    mac, description = design_mac("float8_e4m3fn", "int8", 16, "float8_e5m2")
    terms = payload_layout(mac, "terms")
    assert isinstance(terms, data.StructLayout) and terms["a"].shape == layout_of(e4m3)
    payload = description["inputs"]["terms"]["payload"]
    assert [(n, payload[n]["offset"], payload[n]["width"]) for n in payload] == \
        [("a", 0, 8), ("b", 8, 8), ("last", 16, 1)]
    assert payload["a"]["fields"] == fields["a"] and payload["a"]["format"] == e4m3.name
    result = description["outputs"]["result"]["payload"]
    assert result["code"]["fields"] == layout_fields(layout_of(e5m2))
    assert result["special"]["offset"] == 8 + result["acc"]["width"]
