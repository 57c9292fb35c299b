"""The N:M chain's ports are its formats' layouts, the manifest describes them from the
signature, and the chain's stimulus is packed at the manifest's offsets (issue 11)."""

import numpy as np
import pytest

from sqhw.formats import parse
from sqhw.hdl.emit import design_dsp_chain
from sqhw.hdl.operand import layout_of
from sqhw.sparsity import NM
from sqhw.verify.chain_stimulus import chain_beats, field_values
from sqhw.verify.streams import fields_word


def test_ports_are_the_formats_layouts_and_the_manifest_says_so():
    dut, description = design_dsp_chain("float8_e4m3fn", "int8", m=4, chain=2, max_k=64,
                                        out="float8_e4m3fn", lanes=3)
    weights = dut.weights.payload
    assert weights.values[2][1].shape() == layout_of(parse("float8_e4m3fn"))
    assert dut.acts.payload[7].shape() == layout_of(parse("int8"))
    assert dut.result.payload.code[0].shape() == layout_of(parse("float8_e4m3fn"))
    fields = description["inputs"]["weights"]["payload"]
    values = fields["values"]
    assert (values["offset"], values["count"], values["bits"], values["shape"]) == (0, 6, 8,
                                                                                     [3, 2])
    assert values["element_fields"] == {"man": {"offset": 0, "width": 3},
                                        "exp": {"offset": 3, "width": 4},
                                        "sign": {"offset": 7, "width": 1}}
    assert fields["indices"]["offset"] == 48 and fields["indices"]["shape"] == [3, 2]
    assert fields["last"] == {"offset": 60, "width": 1, "count": 1, "bits": 1, "shape": []}
    code = description["outputs"]["result"]["payload"]["code"]
    assert code["element_fields"]["sign"] == {"offset": 7, "width": 1}
    acts = description["inputs"]["acts"]["payload"]["acts"]
    assert (acts["count"], acts["shape"], acts["element_fields"]) == (
        8, [8], {"value": {"offset": 0, "width": 8}})


def test_stimulus_follows_the_manifest_offsets(rng):
    """fields_word puts element i of a field at offset + i * bits: words read back through
    the same fields give the values; a manifest whose fields sit elsewhere moves the bits."""
    payload = {"values": {"offset": 0, "width": 24, "count": 3, "bits": 8},
               "indices": {"offset": 24, "width": 6, "count": 3, "bits": 2},
               "last": {"offset": 30, "width": 1, "count": 1, "bits": 1}}
    values = rng.integers(0, 256, (50, 3))
    indices = rng.integers(0, 4, (50, 3))
    last = rng.integers(0, 2, 50)
    words = fields_word(payload, {"values": values, "indices": indices, "last": last})
    for name, want in (("values", values), ("indices", indices), ("last", last[:, None])):
        np.testing.assert_array_equal(field_values(words, payload[name]), want, strict=True)
    moved = {"last": {**payload["last"], "offset": 0},
             "values": {**payload["values"], "offset": 1},
             "indices": {**payload["indices"], "offset": 25}}
    again = fields_word(moved, {"values": values, "indices": indices, "last": last})
    assert again == [((w & ((1 << 24) - 1)) << 1) | ((w >> 24 & 63) << 25) | (w >> 30)
                     for w in words]
    assert len(words) == 50


def test_chain_beats_place_the_weights_where_the_manifest_says(rng):
    """The words of chain_beats for a design, read back field by field at the manifest's
    offsets, are the packed weights and the activation windows (every beat, every lane)."""
    from sqhw.hdl.sparse_chain import beats

    dut, description = design_dsp_chain("float8_e4m3fn", "int8", m=4, chain=2, max_k=64,
                                        out="int8", lanes=2)
    nm, w_fmt = NM.parse("2:4"), parse("float8_e4m3fn")
    w = w_fmt.encode(nm.prune(rng.standard_normal((2, 20)) * 40), saturate=True)
    x = rng.integers(0, 256, (20, 1))
    act_words, weight_words, padded = chain_beats(description, w, x, nm)
    packed = nm.pack(w, w_fmt)
    want = beats(packed.values, packed.indices, x[:, 0], nm, 2, 0, 0)
    fields = description["inputs"]["weights"]["payload"]
    got_values = field_values(weight_words, fields["values"]).reshape(-1, 2, 2)
    np.testing.assert_array_equal(got_values, want["values"].transpose(1, 0, 2), strict=True)
    got_last = field_values(weight_words, fields["last"])[:, 0]
    np.testing.assert_array_equal(got_last, want["last"], strict=True)
    got_acts = field_values(act_words, description["inputs"]["acts"]["payload"]["acts"])
    np.testing.assert_array_equal(got_acts, want["acts"], strict=True)
    assert padded == 2 and got_values.size == want["values"].size > 0


@pytest.mark.parametrize("base,wide_bits", [(0, 8), (40, 8), (40, 64)],
                         ids=["int64-words", "uint32-words", "python-ints"])
def test_fields_word_paths_agree_with_python_ints(rng, base, wide_bits):
    """fields_word packs int64 words (under 63 bits), payload_words' uint32 words (wider
    words, elements under 63 bits) or Python ints (wider elements): each gives the words
    computed here one element at a time, masked to its bits."""
    payload = {"values": {"offset": base, "width": 3 * wide_bits, "count": 3,
                          "bits": wide_bits},
               "last": {"offset": base + 3 * wide_bits, "width": 1}}
    high = 1 << min(wide_bits - 1, 62)
    values = rng.integers(-high, high, (40, 3))
    last = rng.integers(0, 2, 40)
    got = fields_word(payload, {"values": values, "last": last})
    mask = (1 << wide_bits) - 1
    want = [sum((int(v) & mask) << (base + i * wide_bits) for i, v in enumerate(row))
            | int(b) << (base + 3 * wide_bits) for row, b in zip(values, last)]
    assert got == want and len(got) == 40
    with pytest.raises(ValueError, match="payload field values: 2 values per row"):
        fields_word(payload, {"values": values[:, :2], "last": last})


def test_fields_word_edge_cases():
    """No rows packs to no words; fields of different row counts and Python ints past int64
    in a narrow field (masked to it) on every path."""
    payload = {"a": {"offset": 0, "width": 8}, "b": {"offset": 70, "width": 8}}
    assert fields_word(payload, {"a": np.zeros(0, dtype=np.int64),
                                 "b": np.zeros(0, dtype=np.int64)}) == []
    with pytest.raises(ValueError, match="payload field b: 3 rows, the fields before it have 5"):
        fields_word(payload, {"a": np.zeros(5, dtype=np.int64), "b": np.zeros(3, dtype=np.int64)})
    huge = np.array([(1 << 70) + 5, -(1 << 65) - 1], dtype=object)
    assert fields_word(payload, {"a": huge, "b": huge}) == [
        5 | 5 << 70, 0xFF | 0xFF << 70]
    assert fields_word({"a": payload["a"]}, {"a": huge}) == [5, 0xFF]
