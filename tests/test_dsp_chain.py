"""SparseDSPChain: Amaranth-level checks and Verilator runs of `sqhw sim dsp-chain`'s
testbench, every pattern and format pair, ragged K, backpressure, matrix-matrix, and one
real layer (a digits classifier trained here with scikit-learn, pruned 2:4, int8)."""

import json

import numpy as np
import pytest

from sqhw.cli import main
from sqhw.formats import parse
from sqhw.hdl.emit import design_dsp_chain, write_design
from sqhw.sparsity import NM
from sqhw.verify.runner import run

pytestmark = pytest.mark.rtl


def _run(tmp_path, w, x, m, env, lanes=4, chain=8, k=512):
    dut, description = design_dsp_chain(w, x, m, chain, k, "int8", lanes=lanes)
    write_design(dut, description, tmp_path / "chain", "chain")
    return run("tb_dsp_chain", [tmp_path / "chain"], 1, env=env)


@pytest.mark.parametrize("w,x", [("int8", "int8"), ("float8_e4m3fn", "int8"),
                                 ("float8_e4m3fn", "float8_e4m3fn")])
@pytest.mark.parametrize("m", [4, 8])
def test_every_runtime_pattern_on_one_build(tmp_path, w, x, m, seed):
    checked = 0
    for n in [1, 2, 4, 8]:
        if n > m:
            continue
        for k in (512, 300):  # 300: ragged, not a multiple of m or of the chain
            rows = 128 if k == 512 else 32  # 128: the pipeline fill is < 5% of 1:8
            result = next(iter(_run(tmp_path, w, x, m, {
                "SQHW_NM": f"{n}:{m}", "SQHW_ROWS": str(rows), "SQHW_K": str(k),
                "SQHW_SEED": str(seed)}).values()))
            assert result["mismatches"] == 0, result["examples"]
            assert result["vectors"] == rows
            if k == 512:
                assert result["cycles"] <= 1.05 * result["ideal_cycles"]
                assert result["dsp_utilisation"] >= 0.95
            checked += result["vectors"]
    assert checked == 160 * len([n for n in (1, 2, 4, 8) if n <= m])


def test_backpressure_gaps_and_matrix_matrix(tmp_path, seed):
    """The sink stalls (ready 30%), both input streams have gaps (valid 60%, drawn apart so
    the join waits on either), 3 columns of X, 18 rows: a last row block of 2 real rows."""
    result = next(iter(_run(tmp_path, "int8", "int8", 4, {
        "SQHW_NM": "2:4", "SQHW_ROWS": "18", "SQHW_K": "512", "SQHW_COLS": "3",
        "SQHW_READY": "0.3", "SQHW_VALID": "0.6", "SQHW_SEED": str(seed)}).values()))
    assert result["mismatches"] == 0 and result["vectors"] == 54
    assert result["cycles"] > 2 * result["ideal_cycles"]  # the streams stalled the chain


def test_real_digits_layer_pruned_2_4(tmp_path, capsys):
    """A digits classifier's weights, pruned 2:4 and quantized to int8, through
    `sqhw sim dsp-chain --weights --acts`; a layer that breaks the pattern is refused
    before anything is built."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    digits = load_digits()
    model = LogisticRegression(max_iter=500).fit(digits.data, digits.target)
    int8 = parse("int8")
    weights = NM(2, 4).prune(model.coef_)  # (10 classes, 64 pixels)
    scale = np.abs(weights).max() / 127
    w = int8.encode(weights / scale, saturate=True)
    x = int8.encode(digits.data[:20].T)  # pixels 0..16, 20 images as columns
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "x.npy", x)
    assert main(["sim", "dsp-chain", "--nm", "2:4", "--weights", str(tmp_path / "w.npy"),
                 "--acts", str(tmp_path / "x.npy"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mismatches"] == 0 and result["vectors"] == 10 * 20

    dense = int8.encode(model.coef_ / scale, saturate=True)
    np.save(tmp_path / "dense.npy", dense)
    np.save(tmp_path / "short.npy", x[:60])
    for weights_file, acts_file, message in [
            ("dense.npy", "x.npy", "dense.npy: violates 2:4 sparsity: group"),
            ("w.npy", "short.npy", "has K=64 columns but --acts"),
            ("missing.npy", "x.npy", "missing.npy: cannot read")]:
        assert main(["sim", "dsp-chain", "--nm", "2:4", "--weights",
                     str(tmp_path / weights_file), "--acts", str(tmp_path / acts_file)]) == 2
        assert message in capsys.readouterr().err


def test_cli_json_and_bad_input(capsys):
    assert main(["sim", "dsp-chain", "--nm", "1:4", "--vectors", "16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mismatches"] == 0 and out["vectors"] == 16 and out["pattern"] == "1:4"
    for bad, message in [(["--nm", "3:8"], "power-of-two N"), (["--nm", "2-4"], "'n:m'"),
                         (["--chain", "6"], "power of two"), (["--lanes", "0"], "--lanes"),
                         (["--valid", "0"], "--valid")]:
        assert main(["sim", "dsp-chain", *bad]) == 2
        assert message in capsys.readouterr().err
