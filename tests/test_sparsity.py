"""N:M masks, packing, the exact sparse matmul and SR-STE."""

import numpy as np
import pytest
import torch

from sqhw import ref
from sqhw.formats import parse
from sqhw.sparsity import NM, PATTERNS

CASES = [(p, k) for p in PATTERNS + ("4:4", "8:8") for k in (64, 77)]  # ragged K included


@pytest.mark.parametrize("pattern,k", CASES)
def test_mask_keeps_the_n_largest_per_group(pattern, k, rng):
    nm = NM.parse(pattern)
    w = rng.standard_normal((9, k))
    mask = nm.mask(w)
    checked = 0
    for g in range(nm.groups(k)):
        lo, hi = g * nm.m, min(k, g * nm.m + nm.m)
        group, kept = np.abs(w[:, lo:hi]), mask[:, lo:hi]
        np.testing.assert_array_equal(kept.sum(1), np.full(9, min(nm.n, hi - lo)), strict=True)
        smallest_kept = np.where(kept, group, np.inf).min(1)
        largest_dropped = np.where(kept, -np.inf, group).max(1)
        checked += (smallest_kept >= largest_dropped).sum()  # every row: fails short otherwise
    nm.check(nm.prune(w) != 0)
    assert checked == 9 * nm.groups(k)


@pytest.mark.parametrize("pattern,k", CASES)
@pytest.mark.parametrize("fmt_name", ["int8", "float8_e4m3fn"])
def test_pack_unpack_and_sparse_matmul_are_exact(pattern, k, fmt_name, rng):
    nm, fmt, x_fmt = NM.parse(pattern), parse(fmt_name), parse("int8")
    w = fmt.encode(nm.prune(rng.standard_normal((7, k)) * 20), saturate=True)
    packed = nm.pack(w, fmt)
    assert packed.values.shape == packed.indices.shape == (7, nm.groups(k), nm.n)
    slots = 7 * nm.groups(k) * nm.n
    assert (packed.indices < nm.m).sum() == slots
    cols = np.arange(nm.groups(k))[:, None] * nm.m + packed.indices
    assert ((cols < k) | (fmt.decode(packed.values) == 0)).sum() == slots
    assert sum(len(set(g)) == nm.n for g in packed.indices.reshape(-1, nm.n).tolist()) \
        == 7 * nm.groups(k)
    unpacked = fmt.decode(nm.unpack(packed))
    np.testing.assert_array_equal(unpacked, fmt.decode(w), strict=True)
    x = rng.integers(0, 256, (k, 5))
    product = ref.sparse_matmul(packed, x, x_fmt)
    np.testing.assert_array_equal(product, ref.matmul(w, fmt, x, x_fmt), strict=True)
    assert unpacked.size + product.size == 7 * k + 7 * 5


def test_pattern_violations_are_named(rng):
    int8 = parse("int8")
    w = int8.encode(np.ones((3, 8)))
    with pytest.raises(ValueError, match=r"w: violates 2:4 sparsity: group 0 \(positions 0..3\) "
                                         r"of row \(0,\) has 4 non-zeros; 6 groups"):
        NM(2, 4).pack(w, int8)
    for bad, message in [("2-4", "expected 'n:m'"), ("5:4", "n <= m"), ("0:4", "positive")]:
        with pytest.raises(ValueError, match=message):
            NM.parse(bad)
    with pytest.raises(ValueError, match="contains NaN"):
        NM(2, 4).mask(np.array([np.nan, 1, 2, 3]))
    with pytest.raises(ValueError, match="expected packed w of 8 columns"):
        ref.sparse_matmul(NM(2, 4).pack(int8.encode(np.zeros((2, 8))), int8),
                          np.zeros((9, 2), dtype=np.int64), int8)


def test_srste_trains_a_sparse_layer():
    from sqhw.sparsity.srste import SRSTELinear

    torch.manual_seed(0)
    teacher = torch.nn.Linear(16, 4)
    layer = SRSTELinear(16, 4, NM(2, 4), decay=2e-4)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    x = torch.randn(512, 16)
    y = teacher(x).detach()
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(layer(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    effective = NM(2, 4).prune(layer.weight.detach().numpy())
    NM(2, 4).check(effective != 0)
    assert np.isfinite(losses).sum() == 200  # one finite loss per step
