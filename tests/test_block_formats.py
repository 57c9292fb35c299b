"""OCP MX v1.0 and NVFP4 against implementations written here from the specs, in Fractions."""

from fractions import Fraction

import numpy as np
import pytest

from sqhw.formats import NAMED, parse

MX_NAMES = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4", "mxint8"]


def element_ladder(fmt):
    """(Fraction value, code) of every finite element code; negative zero kept apart."""
    return [(Fraction(float(v)), c) for c, v in enumerate(fmt.table)
            if np.isfinite(v) and not (v == 0 and np.signbit(v))]


def negative_zero_code(fmt):
    codes = [c for c, v in enumerate(fmt.table) if v == 0 and np.signbit(v)]
    return codes[0] if codes else 0


def nearest_saturating(value: Fraction, ladder, significand_parity, neg_zero=0) -> int:
    """Round to nearest, ties to even significand, clamping to +-max first (saturation);
    a negative value that rounds to zero keeps its sign (neg_zero code)."""
    top = max(v for v, _ in ladder)
    clamped = max(min(value, top), -top)
    best = min(abs(v - clamped) for v, _ in ladder)
    picks = [(v, c) for v, c in ladder if abs(v - clamped) == best]
    if len(picks) > 1:
        picks = [(v, c) for v, c in picks if significand_parity(c) == 0]
    assert len(picks) == 1
    v, code = picks[0]
    return neg_zero if v == 0 and value < 0 else code


def floor_log2(q: Fraction) -> int:
    e = q.numerator.bit_length() - q.denominator.bit_length()
    return e if Fraction(2) ** e <= q else e - 1


def spec_mx(x_row, fmt):
    """OCP MX v1.0 6.3: X = 2^(floor(log2(amax)) - emax_elem); P = RNE-saturate(V / X)."""
    el = fmt.element
    ladder = element_ladder(el)
    parity = (lambda c: c & 1) if el.name == "mxint8_element" else (
        lambda c: c & 1 if el.man_bits else 1)
    emax_elem = floor_log2(Fraction(el.max))
    elements, scales = [], []
    for block in np.asarray(x_row).reshape(-1, fmt.block_size):
        vals = [Fraction(float(v)) for v in block]
        amax = max(abs(v) for v in vals)
        shared = floor_log2(amax) - emax_elem if amax else -127
        shared = max(-127, min(127, shared))
        scales.append(shared + 127)
        elements += [nearest_saturating(v / Fraction(2) ** shared, ladder, parity,
                                        negative_zero_code(el)) for v in vals]
    return elements, scales


def test_spec_helpers_count():
    assert len(element_ladder(parse("float4_e2m1fn"))) == 15  # 16 codes, -0 set apart


@pytest.mark.parametrize("name", MX_NAMES)
def test_mx_matches_spec(name, rng):
    fmt = NAMED[name]
    rows = 24
    blocks = rng.standard_normal((rows, 3, 32)) * np.exp(rng.uniform(-20, 20, (rows, 3, 1)))
    blocks[0, 1] = 0.0  # an all-zero block
    blocks[1, 2, 5] = 2.0 ** 100  # one large outlier
    x = blocks.reshape(rows, 96).astype(np.float32).astype(np.float64)
    enc = fmt.encode(x)
    checked = 0
    for r in range(rows):
        elements, scales = spec_mx(x[r], fmt)
        assert enc.scales[r].tolist() == scales, r
        assert enc.elements[r].tolist() == elements, r
        checked += len(elements)
    assert checked == rows * 96
    # decode is element value times the scale, exactly
    dec = fmt.decode(enc)
    want = fmt.element.decode(enc.elements) * np.repeat(2.0 ** (enc.scales.astype(float) - 127),
                                                         32, axis=-1)
    np.testing.assert_array_equal(dec, want, strict=True)
    assert dec.size == rows * 96


def spec_nvfp4(x):
    el, sc = parse("float4_e2m1fn"), parse("float8_e4m3fn")
    el_ladder, sc_ladder = element_ladder(el), element_ladder(sc)
    amax_t = max(abs(Fraction(float(v))) for v in np.ravel(x))
    tensor = Fraction(float(np.float32(float(amax_t / (6 * 448))))) if amax_t else Fraction(1)
    elements, scales = [], []
    for block in np.asarray(x).reshape(-1, 16):
        vals = [Fraction(float(v)) for v in block]
        amax = max(abs(v) for v in vals)
        s_code = nearest_saturating(amax / (6 * tensor), sc_ladder, lambda c: c & 1)
        scales.append(s_code)
        s = Fraction(float(sc.table[s_code])) * tensor
        elements += [nearest_saturating(v / s, el_ladder, lambda c: c & 1, 8) if s else 0
                     for v in vals]
    return elements, scales, tensor


def test_nvfp4_matches_spec(rng):
    fmt = NAMED["nvfp4"]
    x = (rng.standard_normal((16, 64)) * np.exp(rng.uniform(-6, 6, (16, 1)))).astype(np.float32)
    x[3, :16] = 0.0
    enc = fmt.encode(x)
    elements, scales, tensor = spec_nvfp4(x)
    assert Fraction(enc.tensor_scale) == tensor
    assert enc.scales.ravel().tolist() == scales
    assert enc.elements.ravel().tolist() == elements
    assert enc.elements.size == 1024 and enc.scales.size == 1024 // 16


def test_block_shape_rules():
    fmt = NAMED["mxfp4"]
    with pytest.raises(ValueError, match="multiple of the block size 32; pass pad=True"):
        fmt.encode(np.ones((2, 40)))
    enc = fmt.encode(np.ones((2, 40)), pad=True)
    assert enc.elements.shape == (2, 64) and enc.scales.shape == (2, 2)
    q = fmt.quantize(np.ones((2, 40)) * 0.7, pad=True)
    np.testing.assert_array_equal(q, np.full((2, 40), 0.75), strict=True)
    with pytest.raises(ValueError, match="NaN/Inf"):
        fmt.encode(np.array([np.nan] + [1.0] * 31))

