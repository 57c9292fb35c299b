"""MACs and MX / NVFP4 block dots as generated Verilog, checked bit for bit against sqhw.ref
at Verilator's speed: the stream program (sqhw.verify.stream_program) feeds each design's
terms from a file, one per cycle per lane on valid / ready, and numpy compares every result.

All the designs of sqhw.verify.suite.MACS share one build (cached in the user cache folder),
two lanes each; every design sees >= 10**6 terms (every pair of finite element codes among
them), and again with valid and ready dropped at random. Every test counts what it checked.
Without Verilator only the file-layout tests run."""

import json

import numpy as np
import pytest

from sqhw.verify import stream_program, stream_run, suite, vectors
from sqhw.verify.streams import field_values, fields_word, payload_words

LANES = suite.MAC_LANES
TERMS = 10**6
BACKPRESSURE_TERMS = 50_000
P_VALID, P_READY = 0.7, 0.4


def _sets(manifests, seed, total, all_pairs):
    """The vector sets of the cocotb MAC bench these checks replace: every pair of finite
    element codes in random dot products where there are at most 2**16 (and at most
    `total`), else random finite codes; block dots: scales near 1.0 with the extremes."""
    return [vectors.generate(m, seed, count=total, group=LANES,
                             exhaustive=all_pairs and vectors.input_space(m) <= min(1 << 16,
                                                                                    total))
            for m in manifests]


@pytest.fixture(scope="module")
def macs(tmp_path_factory):
    """(program, manifests): every MAC of the suite in one stream program."""
    dirs = suite.generate(tmp_path_factory.mktemp("macs"), suite.macs())
    return stream_run.build(dirs, LANES)


def _rows(result, key):
    return np.array([row[key] for row in result["designs"].values()], dtype=np.int64)


def _no_mismatches(result):
    mismatches = _rows(result, "mismatches")
    np.testing.assert_array_equal(mismatches, np.zeros_like(mismatches), strict=True,
                                  err_msg=str(result["examples"][:3]))
    extra = _rows(result, "extra")
    np.testing.assert_array_equal(extra, np.zeros_like(extra), strict=True)


@pytest.mark.rtl
def test_mac_million_terms_at_full_throughput(macs, seed):
    """valid and ready held high: >= 10**6 terms per design, one term per lane per cycle,
    each design's last result at most one cycle after its ideal (terms + latency)."""
    program, manifests = macs
    sets = _sets(manifests, seed, TERMS, all_pairs=True)
    result = stream_run.run(program, manifests, sets, LANES, seed)
    _no_mismatches(result)
    terms = _rows(result, "terms")
    assert len(terms) == len(suite.MACS) == 22
    assert terms.min() >= TERMS - LANES * 32  # block dots: whole blocks per lane
    assert result["terms"] == int(terms.sum()) == sum(vs.count for vs in sets)
    assert result["dot_products"] == sum(vs.size for vs in sets) > 22 * TERMS // 100
    cycles, ideal = _rows(result, "cycles"), _rows(result, "ideal_cycles")
    assert (cycles <= ideal + 1).all(), dict(zip(result["designs"], cycles - ideal))
    assert (ideal >= TERMS // LANES - 32).all()
    print(f"{result['terms']} terms, {result['terms_per_second']} terms/s "
          f"({result['simulated_seconds']} s simulated, {result['seconds']} s in all)")


@pytest.mark.rtl
def test_mac_backpressure(macs, seed):
    """valid 70 % and ready 40 % of the cycles, at random per stream, random payload bits
    while valid is low: every result still exact, none lost or extra, and the cycles grow."""
    program, manifests = macs
    sets = _sets(manifests, seed + 1, BACKPRESSURE_TERMS, all_pairs=False)
    result = stream_run.run(program, manifests, sets, LANES, seed, P_VALID, P_READY)
    _no_mismatches(result)
    assert _rows(result, "terms").min() >= BACKPRESSURE_TERMS - LANES * 32
    cycles, ideal = _rows(result, "cycles"), _rows(result, "ideal_cycles")
    # about ideal / P_VALID: a fifth more is many standard deviations inside that
    assert (cycles > 1.2 * ideal).all(), dict(zip(result["designs"], cycles - ideal))


@pytest.mark.rtl
def test_stream_program_counts_the_mismatches_of_a_misstated_design(macs, seed):
    """The comparison can fail: design 0 (int8 x int8) read as if `a` were uint8 differs
    exactly in the dot products where the b terms beside a negative a do not sum to 0
    (acc grows by 256 times that sum), counted here from the inputs alone; the other designs
    still match."""
    program, manifests = macs
    assert manifests[0]["parameters"]["a"] == manifests[0]["parameters"]["b"] == "int8"
    misstated = json.loads(json.dumps(manifests[0]))
    misstated["parameters"]["a"] = "uint8"
    misstated["inputs"]["terms"]["payload"]["a"]["format"] = "uint8"
    sets = _sets(manifests, seed + 2, 4000, all_pairs=False)
    sets[0] = vectors.generate(misstated, seed + 2, count=20_000, group=LANES)
    result = stream_run.run(program, [misstated, *manifests[1:]], sets, LANES, seed)
    vs = sets[0]
    starts, lengths = vectors.dots(vs)
    b = np.where(vs.inputs["b"] >= 128, vs.inputs["b"] - 256, vs.inputs["b"])
    beside_negative = np.where(vs.inputs["a"] >= 128, b, 0)
    sums = np.add.reduceat(beside_negative, starts)
    independent = int(np.count_nonzero(sums))
    assert 0 < independent < vs.size
    rows = list(result["designs"].values())
    assert (rows[0]["mismatches"], rows[0]["dot_products"]) == (independent, vs.size)
    others = np.array([r["mismatches"] for r in rows[1:]], dtype=np.int64)
    np.testing.assert_array_equal(others, np.zeros_like(others), strict=True)
    example = result["examples"][0]
    assert example["design"] == manifests[0]["top"] and example["got"] != example["want"]


# ------------------------------------------------------------ the files (no simulator)


def test_payload_words_match_the_field_words(rng):
    """The stream files' words hold the same bits as `fields_word` (Python ints) for random
    fields across word boundaries, wider than 64-bit payloads included, and read back."""
    payload = {"a": {"offset": 0, "width": 8}, "b": {"offset": 29, "width": 7},
               "s": {"offset": 36, "width": 40, "signed": True},
               "wide": {"offset": 76, "width": 64}, "last": {"offset": 140, "width": 1}}
    width, count = 141, 500
    values = {"a": rng.integers(0, 256, count), "b": rng.integers(0, 128, count),
              "s": rng.integers(-(1 << 39), 1 << 39, count),
              "wide": rng.integers(-(1 << 62), 1 << 62, count),
              "last": rng.integers(0, 2, count)}
    words = payload_words(payload, values, width)
    assert words.shape == (count, 5) and words.dtype == np.uint32
    ints = fields_word(payload, values)
    as_words = np.array([[(w >> (32 * i)) & 0xFFFFFFFF for i in range(5)] for w in ints],
                        dtype=np.uint32)
    np.testing.assert_array_equal(words, as_words, strict=True)
    checked = 0
    for name, f in payload.items():
        got = field_values(words, f["offset"], f["width"], bool(f.get("signed")))
        want = np.asarray(values[name], dtype=np.int64)
        if name == "wide":  # read back unsigned, as 64 bits of two's complement
            want = np.array([int(v) % (1 << 64) for v in want], dtype=object)
        np.testing.assert_array_equal(got, want, strict=True)
        checked += got.size
    assert checked == 5 * count


def test_stream_program_refuses_other_designs():
    with pytest.raises(ValueError, match="the stream program runs mac designs"):
        stream_program.main_cpp([{"top": "m", "kind": "mul", "inputs": {"a": {}},
                                  "outputs": {"p": {}}}], 1)
    with pytest.raises(ValueError, match="lanes: expected 1 to 32"):
        stream_program.main_cpp([], 33)
