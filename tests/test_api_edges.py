"""torch in / torch out, clear errors on bad input, parse, and the CLI."""

import dataclasses
import itertools
import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sqhw import ref
from sqhw.cli import main
from sqhw.formats import (NAMED, NAN_POLICIES, BlockScaled, Fixed, Minifloat, OutsideFloat64,
                          design_space, integers, parse, presets)


def test_torch_in_torch_out(rng):
    x = torch.from_numpy(rng.standard_normal(1000).astype(np.float32))
    checked = 0
    for name in ["float8_e4m3fn", "int8", "float4_e2m1fn"]:
        fmt = parse(name)
        codes = fmt.encode(x, saturate=True)
        assert isinstance(codes, torch.Tensor) and codes.dtype == torch.uint8
        values = fmt.decode(codes)
        assert isinstance(values, torch.Tensor) and values.dtype == torch.float64
        np.testing.assert_array_equal(codes.numpy(), fmt.encode(x.numpy(), saturate=True),
                                      strict=True)
        checked += codes.numel()
    bf16 = x.to(torch.bfloat16)
    from_bf16 = parse("float8_e5m2").encode(bf16).numpy()
    np.testing.assert_array_equal(from_bf16, parse("float8_e5m2").encode(bf16.float().numpy()),
                                  strict=True)
    checked += from_bf16.size
    enc = NAMED["mxfp4"].encode(x.reshape(10, 100)[:, :96])
    assert isinstance(enc.elements, torch.Tensor)
    assert NAMED["mxfp4"].decode(enc).shape == (10, 96)
    assert checked == 4000  # 1000 values, three formats and bfloat16


def test_torch_float8_agrees_where_it_is_defined(rng):
    """torch saturates e4m3fn past 448 while sqhw's non-saturating rule gives NaN (DESIGN.md);
    inside the range the two agree on every value."""
    x = torch.from_numpy((rng.standard_normal(100_000) * 50).astype(np.float32)).clamp(-448, 448)
    ours = parse("float8_e4m3fn").encode(x)
    theirs = x.to(torch.float8_e4m3fn).view(torch.uint8)
    assert torch.equal(ours, theirs)
    assert ours.numel() == 100_000


@pytest.mark.parametrize("bad,pattern", [
    ("float8_e4m3f", "closest known names: float8_e4m3fn"),
    ("mxfp5", "unknown format name 'mxfp5'"),
    ("int0", "unknown format name"),
])
def test_unknown_format_names(bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        parse(bad)


def test_parse_round_trips_every_preset():
    names = [f.name for f in presets()]
    assert all(parse(n).name == n for n in names)
    assert parse("fixed<u,4,2>") == Fixed(4, 2, signed=False)
    assert parse("E4M3") == Minifloat(4, 3)
    assert len(names) == len(set(names)) == 59  # 18 named (bfloat16 among them), 27 eXmY, 14 ints


def _round_trip(fmt) -> None:
    back = parse(fmt.name)
    assert back == fmt and hash(back) == hash(fmt), (fmt, back)
    assert back.name == fmt.name, (fmt.name, back.name)


def test_format_names_are_labels_not_identities():
    """Issue 11.4: Minifloat(4, 3, nan="outer") != parse("float8_e4m3fn") because the name
    took part in equality."""
    e4m3fn = parse("float8_e4m3fn")
    unnamed = Minifloat(4, 3, nan="outer")
    assert unnamed == e4m3fn and hash(unnamed) == hash(e4m3fn)
    assert len({unnamed, e4m3fn, Minifloat(4, 3, nan="outer", name="mine")}) == 1
    assert parse("e2m1") == parse("float4_e2m1fn") and Fixed(2, 6) == NAMED["mxint8"].element
    assert Fixed(np.int64(8), 0) == parse("int8") and Fixed(np.int64(8), 0).name == "int8"
    e2m1, e8m0 = parse("float4_e2m1fn"), parse("float8_e8m0fnu")
    assert BlockScaled(e2m1, 32, e8m0) == NAMED["mxfp4"]
    assert BlockScaled(e2m1, 16, e4m3fn) != NAMED["nvfp4"]  # no tensor scale: another format
    assert BlockScaled(e2m1, 16, e4m3fn, tensor_scale=True) == NAMED["nvfp4"]
    # caches keyed on formats (sqhw.ref's integer tables) share entries between equal formats:
    # right only because equal formats have equal tables
    assert ref.integer_table(unnamed) is ref.integer_table(e4m3fn)
    elements = [f for f in presets() if not isinstance(f, BlockScaled)]
    equal_pairs = 0
    for a, b in itertools.combinations(elements, 2):
        if a == b:
            np.testing.assert_array_equal(a.table, b.table, strict=True)
            np.testing.assert_array_equal(ref.integer_table(a), ref.integer_table(b), strict=True)
            equal_pairs += 1
    assert equal_pairs == 3  # float6_e2m3fn = e2m3, float6_e3m2fn = e3m2, float4_e2m1fn = e2m1


def test_every_generated_name_parses_back():
    """Every name sqhw prints parses to an equal format with the same name: presets, the whole
    eXmY space, integers up to 64 bits, preset parts, and presets rebuilt without a name."""
    blocks = [f for f in NAMED.values() if isinstance(f, BlockScaled)]
    minifloats = [f for f in NAMED.values() if isinstance(f, Minifloat)]
    formats = (presets() + design_space(2, 16) + integers(64)
               + [part for f in blocks for part in (f.element, f.scale_format)]
               + [dataclasses.replace(f, name=None) for f in minifloats + blocks]
               + [f.exact_fixed for f in minifloats]
               + [ref.accumulator_format(a, b, 1024) for a in minifloats for b in minifloats])
    for fmt in formats:
        _round_trip(fmt)
    assert Minifloat(4, 3, nan="outer").name == "minifloat<e4,m3,bias=7,nan=outer>"
    assert dataclasses.replace(NAMED["nvfp4"], name=None).name == \
        "block<float4_e2m1fn,16,float8_e4m3fn,tensor_scale>"
    # 59 presets, 105 eXmY splits of 2..16 bits (120 less 15 past float64), int2..64 and
    # uint2..64, 7 blocks x 2 parts, 11 + 7 rebuilt, 11 exact fixed views (bfloat16 among the
    # 11 named minifloats), 11 x 11 accumulators
    assert len(formats) == 59 + 105 + 2 * 63 + 14 + 18 + 11 + 121


@st.composite
def _minifloats(draw):
    """Any Minifloat the constructor accepts, named by sqhw."""
    signed = draw(st.booleans())
    exp_bits = draw(st.integers(1, 11))
    man_bits = draw(st.integers(0, 16 - int(signed) - exp_bits))
    nan = draw(st.sampled_from(NAN_POLICIES))
    assume(not (nan == "ieee" and (man_bits < 1 or exp_bits < 2)))
    assume(not (nan == "negzero" and not signed))
    fields = dict(exp_bits=exp_bits, man_bits=man_bits, nan=nan, signed=signed,
                  inf=nan == "ieee" and draw(st.booleans()), subnormals=draw(st.booleans()),
                  bias=draw(st.one_of(st.none(), st.integers(-40, 2**exp_bits + 40))))
    try:
        return Minifloat(**fields)
    except OutsideFloat64:
        assume(False)


@st.composite
def _fixed(draw):
    """Any Fixed the constructor accepts (negative int_bits included), named by sqhw."""
    frac_bits = draw(st.integers(0, 64))
    int_bits = draw(st.integers(1 - frac_bits, 70))
    return Fixed(int_bits, frac_bits, signed=draw(st.booleans()))


@settings(max_examples=400, deadline=None)
@given(fmt=st.one_of(_minifloats(), _fixed(),
                     st.builds(BlockScaled, st.one_of(_minifloats(), _fixed()),
                               st.integers(1, 64), _minifloats(), st.booleans())))
def test_random_formats_names_parse_back(fmt):
    _round_trip(fmt)


@pytest.mark.parametrize("name,top", [("e11m4", 1024), ("e12m3", 2048), ("e15m0", 16384)])
def test_exmy_beyond_float64_is_refused(name, top):
    """Issue 11.2: these decoded finite codes to inf and reported a wrong max / min_normal."""
    message = rf"{name}: its largest values reach 2\*\*{top}, outside float64 \(finite values " \
              r"below 2\*\*1024, multiples of 2\*\*-1074\)"
    with pytest.raises(ValueError, match=message):
        parse(name)
    e, m = (int(part) for part in name[1:].split("m"))
    with pytest.raises(ValueError, match=message):
        Minifloat(e, m)
    with pytest.raises(ValueError, match=r"minifloat<e4,m3,bias=1100>: its values are multiples "
                                         r"of 2\*\*-1102, outside float64"):
        Minifloat(4, 3, bias=1100)


def test_every_exmy_split_decodes_exactly_or_is_refused():
    """Every split of at most 16 bits: refused exactly when its top binade 2^(2^(e-1)) leaves
    float64; otherwise every code is finite and max / min_normal / min_subnormal are the ones
    the definition gives (IEEE bias 2^(e-1) - 1, no Inf/NaN)."""
    accepted, refused = [], []
    for e in range(1, 16):
        for m in range(0, 16 - e):
            name = f"e{e}m{m}"
            if 2 ** (e - 1) >= 1024:
                with pytest.raises(ValueError, match=f"{name}: .* outside float64"):
                    parse(name)
                refused.append(name)
                continue
            fmt = parse(name)
            bias = 2 ** (e - 1) - 1
            assert np.isfinite(fmt.table).sum() == 1 << (1 + e + m), name
            assert Fraction(fmt.max) == (2 - Fraction(1, 2**m)) * Fraction(2) ** (2**e - 1 - bias)
            assert Fraction(fmt.min_normal) == Fraction(2) ** (1 - bias), name
            assert Fraction(fmt.min_subnormal) == Fraction(2) ** (1 - bias - m), name
            accepted.append(name)
    assert len(accepted) + len(refused) == sum(16 - e for e in range(1, 16)) == 120
    assert len(refused) == 5 + 4 + 3 + 2 + 1  # e11 .. e15
    spanned = sorted(f.name for f in design_space(3, 16))  # 3..16 bits: all but e1m0
    assert spanned == sorted(set(accepted) - {"e1m0"})


@pytest.mark.parametrize("x", [np.array([2**62 + 1]), np.array([3, -(2**53) - 1]),
                               np.array([2**64 - 1], dtype=np.uint64),
                               torch.tensor([2**53 + 1])], ids=["int64", "negative", "uint64",
                                                               "torch"])
def test_integers_beyond_2_53_are_refused(x):
    """Issue 11.3: integer inputs went through float64, so 2**62 + 1 encoded to int8 as 0."""
    with pytest.raises(ValueError, match=r"x: integer inputs must have magnitude at most "
                                         r"2\*\*53 .*; got 1 beyond it"):
        parse("int8").encode(x)
    with pytest.raises(ValueError, match=r"x: integer inputs must have magnitude at most"):
        parse("float8_e4m3fn").encode(x)


def test_integers_up_to_2_53_encode_exactly():
    x = np.array([2**53, -(2**53), 2**53 - 1, 7, -1])
    np.testing.assert_array_equal(parse("int8").encode(x, saturate=True),
                                  np.array([127, 128, 127, 7, 255], dtype=np.uint8), strict=True)
    int32 = parse("int32")
    np.testing.assert_array_equal(int32.decode(int32.encode(x, saturate=True)),
                                  np.array([2**31 - 1, -(2**31), 2**31 - 1, 7, -1], dtype=float),
                                  strict=True)
    e10m5 = parse("e10m5")  # holds +-2**53 exactly; 2**53 - 1 needs 53 bits and rounds up
    np.testing.assert_array_equal(e10m5.decode(e10m5.encode(x)),
                                  np.array([2**53, -(2**53), 2**53, 7, -1], dtype=float),
                                  strict=True)
    mx = NAMED["mxint8"].encode(np.full((1, 32), 2**53))  # block formats take the same path
    assert mx.elements.size == 32 and (NAMED["mxint8"].decode(mx) == 2.0**53).sum() == 32


def test_nan_and_type_errors_name_the_problem():
    with pytest.raises(ValueError, match="float4_e2m1fn has no NaN encoding"):
        parse("float4_e2m1fn").encode([1.0, np.nan])
    with pytest.raises(ValueError, match="int8 can only represent them with saturate=True"):
        parse("int8").encode([np.inf])
    with pytest.raises(ValueError, match="rounding: expected one of rne"):
        parse("int8").encode([1.0], rounding="nearest")
    with pytest.raises(TypeError, match="expected real numbers"):
        parse("int8").encode(np.array(["a"]))
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 16\)"):
        parse("float4_e2m1fn").decode([16])
    with pytest.raises(TypeError, match="expected integer codes"):
        parse("int8").decode([1.5])
    with pytest.raises(ValueError, match="inf=True needs nan='ieee'"):
        Minifloat(4, 3, inf=True)
    with pytest.raises(ValueError, match="exp_bits: expected an integer >= 1"):
        Minifloat(0, 3)


def test_encode_ten_million_values_is_vectorised():
    """10^7 float32 values go through encode in one call (a Python loop would take minutes)."""
    x = np.random.default_rng(0).standard_normal(10_000_000, dtype=np.float32)
    codes = parse("float8_e4m3fn").encode(x)
    assert codes.shape == (10_000_000,) and codes.dtype == np.uint8


def test_cli_formats_table_and_json(capsys):
    assert main(["formats", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert by_name["float8_e4m3fn"]["max"] == 448.0 and by_name["float8_e4m3fn"]["bias"] == 7
    assert by_name["nvfp4"]["bits_per_element"] == 4.5
    for r in rows:  # every figure comes from the object
        fmt = parse(r["name"])
        assert (r["max"], r["min_normal"], r["min_subnormal"]) == (
            fmt.max, fmt.min_normal, fmt.min_subnormal)
    assert len(rows) == 59
    assert main(["formats"]) == 0
    table = capsys.readouterr().out
    assert "float8_e4m3fn" in table and "no Inf, NaN: outer" in table
    assert len(table.strip().splitlines()) == 59 + 2


def test_cli_tour_on_real_data(capsys):
    assert main(["tour", "--json", "--formats", "int8,float4_e2m1fn,nvfp4,uint4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["datasets"] == {"digits": [1797, 64], "minilm_l0_weights": [4608, 384]}
    rows = {r["format"]: r for r in out["rows"]}
    assert rows["int8"]["digits"] > rows["float4_e2m1fn"]["digits"] > 15
    assert rows["uint4"]["minilm_l0_weights"] is None  # unsigned cannot hold weights
    assert len(rows) == 4


def test_cli_errors_are_one_line(capsys):
    assert main(["tour", "--formats", "int8,bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sqhw tour: error: --formats: unknown format name 'bogus'")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "sqhw.cli", "formats"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.count("\n") == 61


def test_bfloat16_decodes_every_code_as_ml_dtypes():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    codes = np.arange(1 << 16, dtype=np.uint16)
    with np.errstate(invalid="ignore"):  # ml_dtypes warns casting its NaNs
        want = codes.view(ml_dtypes.bfloat16).astype(np.float64)
    got = parse("bfloat16").decode(codes)
    np.testing.assert_array_equal(got, want, strict=True)  # NaNs compare equal here
    assert got.size == 65536 and int(np.isnan(got).sum()) == 2 * 127
