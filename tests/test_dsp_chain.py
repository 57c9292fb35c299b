"""SparseDSPChain: Amaranth-level checks and Verilator runs of `sqhw sim dsp-chain`'s
testbench, every pattern and format pair, ragged K, backpressure, matrix-matrix, and one
real layer (the PTQ study's digits CNN, quantized by sqhw.ptq: int8, 2:4)."""

import json

import numpy as np
import pytest

from sqhw.cli import main
from sqhw.formats import parse
from sqhw.hdl.emit import design_dsp_chain, write_design
from sqhw.sparsity import NM
from sqhw.verify.runner import run

pytestmark = pytest.mark.rtl


PIPELINED = ("float8_e4m3fn", "int8")  # this pair's builds are planned for 250 MHz


LANES, CHAIN = 2, 4  # small enough to build in about 30 CPU-s each (4 x 8: ~2 min)
SIM_SHAPE = ["--lanes", str(LANES), "--chain", str(CHAIN)]


def _run(tmp_path, w, x, m, env, lanes=LANES, chain=CHAIN, k=512, target_mhz=None):
    """Build (or reuse) the chain and run the testbench. The design is the one `sqhw sim
    dsp-chain` builds with the same arguments (top sqhw_dsp_chain, 1 stage, int8 out), so the
    CLI tests below reuse these builds from the Verilator cache instead of building again."""
    if target_mhz is None and (w, x) == PIPELINED:
        target_mhz = 250
    dut, description = design_dsp_chain(w, x, m, chain, k, "int8", lanes=lanes,
                                        target_mhz=target_mhz,
                                        stages=None if target_mhz else 1)
    write_design(dut, description, tmp_path / "chain", "sqhw_dsp_chain")
    return run("tb_dsp_chain", [tmp_path / "chain"], 1, env=env)


# every format pair at one m, both m on two pairs: four builds (each takes minutes)
@pytest.mark.parametrize("w,x,m", [("int8", "int8", 4), ("int8", "int8", 8),
                                   ("float8_e4m3fn", "int8", 4),
                                   ("float8_e4m3fn", "float8_e4m3fn", 8)])
def test_every_runtime_pattern_on_one_build(tmp_path, w, x, m, seed):
    checked = 0
    for n in [1, 2, 4, 8]:
        if n > m:
            continue
        for k in (512, 298):  # 298: ragged, not a multiple of m or of the chain
            # 128 rows: the pipeline fill is < 5% of 1:8; the design pipelined for 250 MHz
            # fills longer, 256 rows keep it under 5%
            rows = (256 if (w, x) == PIPELINED else 128) if k == 512 else 32
            result = next(iter(_run(tmp_path, w, x, m, {
                "SQHW_NM": f"{n}:{m}", "SQHW_ROWS": str(rows), "SQHW_K": str(k),
                "SQHW_SEED": str(seed)}).values()))
            assert result["mismatches"] == 0, result["examples"]
            assert result["vectors"] == rows
            if k == 512:
                assert result["cycles"] <= 1.05 * result["ideal_cycles"]
                assert result["dsp_utilisation"] >= 0.95
            checked += result["vectors"]
    per_n = (256 if (w, x) == PIPELINED else 128) + 32
    assert checked == per_n * len([n for n in (1, 2, 4, 8) if n <= m])


def test_backpressure_gaps_and_matrix_matrix(tmp_path, seed):
    """The sink stalls (ready 30%), both input streams have gaps (valid 60%, drawn apart so
    the join waits on either), 3 columns of X, 18 rows: a last row block of 2 real rows."""
    result = next(iter(_run(tmp_path, *PIPELINED, 4, {  # the 250 MHz pipeline's stalls
        "SQHW_NM": "2:4", "SQHW_ROWS": "18", "SQHW_K": "512", "SQHW_COLS": "3",
        "SQHW_READY": "0.3", "SQHW_VALID": "0.6", "SQHW_SEED": str(seed)}).values()))
    assert result["mismatches"] == 0 and result["vectors"] == 54
    assert result["cycles"] > 2 * result["ideal_cycles"]  # the streams stalled the chain


def test_real_digits_layer_pruned_2_4(tmp_path, capsys):
    """The PTQ study's digits CNN, quantized by `sqhw.ptq.quantize_` (int8 weights per
    channel, int8 activations, 2:4): its last layer's weight codes and the activation codes
    it receives on test images go through `sqhw sim dsp-chain --weights --acts`, and every
    output code is checked; the exact engine's accumulators are the ones the chain is checked
    against. A layer that breaks the pattern is refused before anything is built."""
    import torch

    from sqhw import models, ref
    from sqhw.ptq import QuantConfig, QuantSpec, quantize_, quantized_layers
    from sqhw.ptq import exact

    task = models.load("digits")
    fp32_weight = task.model.fc2.weight.detach().double().numpy()
    model = quantize_(task.model, QuantConfig(QuantSpec("int8", "channel"), QuantSpec("int8"),
                                              sparsity="2:4"), task.calibration)
    fc2 = quantized_layers(model)["fc2"]
    seen = []
    fc2.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    with torch.no_grad():
        model(task.evaluation[0][0][:20])
    acts = fc2.quantize_input(seen[0].double().numpy())   # (20 images, K = 64)
    int8 = parse("int8")
    w, x = fc2.qweight.codes, acts.codes.T                # (10, 64), (64, 20)
    engine = exact.int_matmul(exact.ints(fc2.qweight), exact.ints(acts).T)
    np.testing.assert_array_equal(engine, ref.sparse_matmul(NM(2, 4).pack(w, int8), x, int8),
                                  strict=True)
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "x.npy", x)
    assert main(["sim", "dsp-chain", "--nm", "2:4", *SIM_SHAPE, "--weights",
                 str(tmp_path / "w.npy"), "--acts", str(tmp_path / "x.npy"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mismatches"] == 0 and result["vectors"] == 10 * 20

    dense = int8.encode(fp32_weight / fc2.qweight.scale, saturate=True)  # not pruned
    np.save(tmp_path / "dense.npy", dense)
    np.save(tmp_path / "short.npy", x[:60])
    for weights_file, acts_file, message in [
            ("dense.npy", "x.npy", "dense.npy: violates 2:4 sparsity: group"),
            ("w.npy", "short.npy", "has K=64 columns but --acts"),
            ("missing.npy", "x.npy", "missing.npy: cannot read")]:
        assert main(["sim", "dsp-chain", "--nm", "2:4", *SIM_SHAPE, "--weights",
                     str(tmp_path / weights_file), "--acts", str(tmp_path / acts_file)]) == 2
        assert message in capsys.readouterr().err


def test_cli_json_and_bad_input(capsys):
    assert main(["sim", "dsp-chain", "--nm", "1:4", *SIM_SHAPE, "--vectors", "16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mismatches"] == 0 and out["vectors"] == 16 and out["pattern"] == "1:4"
    for bad, message in [(["--nm", "3:8"], "power-of-two N"), (["--nm", "2-4"], "'n:m'"),
                         (["--chain", "6"], "power of two"), (["--lanes", "0"], "--lanes"),
                         (["--valid", "0"], "--valid")]:
        assert main(["sim", "dsp-chain", *bad]) == 2
        assert message in capsys.readouterr().err
