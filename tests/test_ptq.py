"""sqhw.ptq: the exact engine equals sqhw.ref bit for bit (accumulators), quantized layers
compute what their codes and scales say, and bad input is refused by name."""

import copy
import json

import numpy as np
import pytest
import torch

from sqhw import ref
from sqhw.cli import main
from sqhw.formats import parse
from sqhw.ptq import QuantConfig, QuantSpec, quantize_, quantized_layers, set_engine
from sqhw.ptq import exact
from sqhw.ptq.quantizer import quantize_act, quantize_blocks, quantize_weight

ELEMENT_FORMATS = ["int8", "int4", "float8_e4m3fn", "float8_e5m2", "float6_e2m3fn",
                   "float4_e2m1fn"]


@pytest.mark.parametrize("name", ELEMENT_FORMATS)
def test_int_matmul_equals_ref_on_every_code_pair(name):
    """Every code of the format against every code (NaN/Inf left out), K = 1, plus long
    random dots: the BLAS path equals sqhw.ref.matmul exactly."""
    fmt = parse(name)
    finite = np.flatnonzero(np.isfinite(fmt.table))
    a = finite[:, None]           # (codes, 1)
    b = finite[None, :]           # (1, codes)
    got = exact.int_matmul(ref.to_ints(a, fmt), ref.to_ints(b, fmt))
    want = ref.matmul(a, fmt, b, fmt)
    np.testing.assert_array_equal(got, want, strict=False)
    rng = np.random.default_rng(0)
    w = rng.choice(finite, size=(17, 1031))
    x = rng.choice(finite, size=(1031, 13))
    got_long = exact.int_matmul(ref.to_ints(w, fmt), ref.to_ints(x, fmt))
    np.testing.assert_array_equal(got_long.astype(object), ref.matmul(w, fmt, x, fmt)
                                  .astype(object), strict=True)
    # the same integers held as exact floats (what exact.linear hands to BLAS)
    got_float = exact.int_matmul(ref.to_float_ints(w, fmt), ref.to_float_ints(x, fmt))
    np.testing.assert_array_equal(got_float, got_long, strict=True)
    assert got.size + got_long.size + got_float.size == finite.size ** 2 + 2 * 17 * 13


@pytest.mark.parametrize("name", ELEMENT_FORMATS + ["e5m10", "e3m10", "uint8",
                                                    "int16"])
def test_float_ints_equal_ints_on_every_code(name):
    """to_float_ints is to_ints as floats, exact on every finite code, in the narrowest
    float that holds the format's integers; NaN / Inf codes are refused by name."""
    fmt = parse(name)
    finite = np.flatnonzero(np.isfinite(fmt.table))
    got = ref.to_float_ints(finite, fmt)
    want = ref.to_ints(finite, fmt)
    bound = max(-want.min(), want.max())
    assert got.dtype == (np.float32 if bound <= 1 << 24 else np.float64)
    np.testing.assert_array_equal(got.astype(np.int64), want, strict=True)
    assert got.size == finite.size > 0
    if finite.size < fmt.table.size:
        with pytest.raises(ValueError, match=f"codes: 1 NaN/Inf codes of {fmt.name}"):
            ref.to_float_ints(np.flatnonzero(~np.isfinite(fmt.table))[:1], fmt)


def test_float_ints_refuse_formats_wider_than_float64():
    fmt = parse("bfloat16")
    assert ref.float_dtype(fmt) is None
    with pytest.raises(ValueError, match="more than 53 bits"):
        ref.to_float_ints(np.array([0]), fmt)


def test_gemm_plan_bounds():
    assert exact.gemm_plan(1024, 127 * 128) == ("float32", 1024)
    assert exact.gemm_plan(4096, 1 << 24) == ("float32", 1)
    assert exact.gemm_plan(4096, (1 << 24) + 1) == ("float64", 4096)
    assert exact.gemm_plan(4, 1 << 60) == ("int64", 4)
    assert exact.gemm_plan(1 << 10, 1 << 60) == ("object", 1 << 10)
    # partial sums that reach exactly 2**24 in float32 are still exact
    a = np.full((1, 1024), 128)
    b = np.full((1024, 1), 128)
    assert int(exact.int_matmul(a, b)[0, 0]) == 1 << 24
    c = np.full((1, 3), (1 << 31) - 1)
    got = exact.int_matmul(c, c.T)  # products past 2**53: int64 matmul, still exact
    assert int(got[0, 0]) == 3 * ((1 << 31) - 1) ** 2


@pytest.mark.parametrize("name", ["mxfp4", "nvfp4", "mxfp8_e4m3", "mxint8", "mxfp6_e2m3"])
def test_block_linear_equals_ref_block_dot(name):
    fmt = parse(name)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 80)) * np.exp(2 * rng.standard_normal((6, 80)))
    w = rng.standard_normal((5, 80))
    x[:, :fmt.block_size] = 0  # an all-zero block: its scale must not matter
    spec = QuantSpec(name)
    qx, qw = quantize_blocks(x, spec), quantize_blocks(w, spec)
    got = exact.block_linear(qx, qw).exact()
    checked = 0
    for n in range(6):
        for m in range(5):
            enc = lambda q, r: type(q.block)(np.asarray(q.block.elements)[r],
                                             np.asarray(q.block.scales)[r], q.block.tensor_scale)
            want = ref.block_dot(enc(qx, n), fmt, enc(qw, m), fmt)
            shift = got.frac_bits - want.frac_bits
            lhs, rhs = int(got.ints[n, m]), int(want.ints)
            assert (lhs == rhs << shift) if shift >= 0 else (lhs << -shift == rhs)
            checked += 1
    assert checked == 30


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(8, 8, 3, padding=1, groups=8, stride=2),
                               torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10))


def _data(n=3):
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(4, 3, 8, 8, generator=g),) for _ in range(n)]


@pytest.mark.parametrize("name", ["int8", "float8_e4m3fn", "float4_e2m1fn"])
def test_exact_linear_layer_is_ref_matmul_times_scales(name):
    model = _model()
    data = _data()
    quantize_(model, QuantConfig(QuantSpec(name, "channel"), QuantSpec(name)), data)
    fc = quantized_layers(model)["4"]
    x = torch.randn(5, 128, dtype=torch.float64)
    qx = fc.quantize_input(x.numpy())
    acc = ref.matmul(fc.qweight.codes, fc.qweight.fmt, qx.codes.T, qx.fmt)  # (10, 5)
    unit = 2.0 ** -ref.product_format(fc.qweight.fmt, qx.fmt).frac_bits
    want = (acc.T.astype(np.float64) * unit * qx.scale[0, 0] * fc.qweight.scale[:, 0]
            + fc.bias.numpy())
    set_engine(model, "exact")
    got = fc(x).numpy()
    np.testing.assert_array_equal(got, want, strict=True)
    assert got.size == 50


@pytest.mark.parametrize("name", ["int8", "float8_e4m3fn", "mxfp4"])
def test_conv_engines_agree_and_direct_equals_unfold(name):
    """The exact conv (float64 convolution of integers) equals im2col + exact matmuls bit
    for bit, and the emulate engine is close to it."""
    model = _model()
    data = _data()
    weight = QuantSpec(name, "tensor" if name.startswith("mx") else "channel")
    quantize_(model, QuantConfig(weight, QuantSpec(name)), data)
    conv = quantized_layers(model)["0"]
    x = data[0][0].to(torch.float64)
    set_engine(model, "exact")
    direct = conv(x)
    unfold = conv._exact_unfold(x)
    np.testing.assert_array_equal(direct.numpy(), unfold.numpy(), strict=True)
    set_engine(model, "emulate")
    emulated = conv(x.float()).double()
    assert torch.allclose(emulated, direct, rtol=1e-4, atol=1e-4)
    assert direct.numel() == 4 * 8 * 8 * 8


def test_quantized_layers_keep_codes_and_scales():
    model = _model()
    quantize_(model, QuantConfig(QuantSpec("int4", ("group", 16)), QuantSpec("int8")), _data())
    fc = quantized_layers(model)["4"]
    assert fc.weight_codes.shape == (10, 128) and fc.weight_scale.shape == (10, 8)
    values = parse("int4").decode(fc.weight_codes.numpy()) * np.repeat(
        fc.weight_scale.numpy(), 16, axis=1)
    np.testing.assert_array_equal(values, fc.qweight.dequantize(), strict=True)


def test_sparsity_gptq_and_overrides():
    model = _model()
    cfg = QuantConfig(QuantSpec("int8", "channel"), QuantSpec("int8"), sparsity="2:4",
                      algorithms=("gptq", "bias-correction"), overrides={"2": None})
    quantize_(model, cfg, _data())
    layers = quantized_layers(model)
    assert set(layers) == {"0", "4"}  # the depthwise conv stays FP32
    assert isinstance(model[2], torch.nn.Conv2d)
    w = layers["4"].weight_codes.numpy()
    nonzero = parse("int8").decode(w).reshape(10, -1, 4) != 0
    assert nonzero.sum(-1).max() <= 2


@pytest.mark.parametrize("granularity", ["tensor", "channel", ("group", 8)])
def test_gptq_beats_rounding_on_the_original_scales(granularity):
    """GPTQ's layer output error is below round-to-nearest's on the same Hessian, on the
    scales of the original weights (kept through the updates, as Brevitas's GPTQ keeps its
    weight quantizer's scales)."""
    from sqhw.ptq.gptq import gptq

    rng = np.random.default_rng(4)
    x = rng.standard_normal((512, 48)) @ rng.standard_normal((48, 48))  # correlated inputs
    w = rng.standard_normal((24, 48))
    spec = QuantSpec("int4", granularity)
    got = gptq(w, x.T @ x, spec)
    rtn = quantize_weight(w, spec)
    err = np.linalg.norm(x @ (got.dequantize() - w).T)
    err_rtn = np.linalg.norm(x @ (rtn.dequantize() - w).T)
    assert err < 0.8 * err_rtn
    np.testing.assert_array_equal(got.scale, rtn.scale, strict=True)
    assert (got.codes != rtn.codes).any() and got.codes.size == w.size


def test_amax_code_min_is_the_full_signed_range():
    """amax_code 'min': the range maps to 2^(b-1) (int4: scale amax / 8, +amax saturates to
    code 7, -amax is code -8); 'max' (default) maps it to 7; minifloats are symmetric, so
    the two agree there."""
    w = np.array([[1.0, -1.0, 0.5, -0.25, 0.0, 0.9]])
    full = quantize_weight(w, QuantSpec("int4", "channel", amax_code="min"))
    assert full.scale[0, 0] == 1 / 8
    np.testing.assert_array_equal(parse("int4").decode(full.codes),
                                  np.array([[7.0, -8, 4, -2, 0, 7]]), strict=True)
    top = quantize_weight(w, QuantSpec("int4", "channel"))
    assert top.scale[0, 0] == 1 / 7
    for name in ("float8_e4m3fn", "float4_e2m1fn"):
        a, b = (quantize_weight(w, QuantSpec(name, "channel", amax_code=c)) for c in ("max",
                                                                                       "min"))
        np.testing.assert_array_equal(a.codes, b.codes, strict=True)
    with pytest.raises(ValueError, match="amax_code: expected one of max, min"):
        QuantSpec("int4", amax_code="top")
    with pytest.raises(ValueError, match="amax_code='max'"):
        QuantSpec("mxfp4", amax_code="min")


def test_study_rows_take_the_amax_code():
    """`sqhw ptq --amax-code min` reaches the weight and activation specs of element formats
    (and the row's config label, so its cache key differs); block formats keep their own."""
    from sqhw.ptq.study import plan

    rows = plan(["int4", "float4_e2m1fn", "mxfp4"], [None], False, (), "exact",
                "percentile", amax_code="min")
    codes = [(cfg.weight.amax_code, cfg.act.amax_code) for _, cfg in rows]
    assert codes == [("min", "min"), ("min", "min"), ("max", "max")]
    assert [d["config"].count("amax-to-min") for d, _ in rows] == [2, 2, 0]
    default = plan(["int4"], [None], False, (), "exact", "percentile")
    assert default[0][1].weight.amax_code == "max" and default[0][0] != rows[0][0]


@pytest.mark.filterwarnings("ignore")  # Brevitas warns on import (brevitas.fx, hadamard)
def test_gptq_and_int_grid_equal_brevitas():
    """sqhw's GPTQ with amax_code 'min' is Brevitas 0.13's as its PTQ example
    (ptq_common.quantize_model, apply_gptq) sets it up: per-channel int4 weights without
    narrow range, scales taken from the weights at the first forward pass and kept
    (ParameterFromStatsFromParameterScaling), layers in sequence on float activations. The
    weight codes of both layers agree but for ties that its float32 arithmetic rounds
    differently from sqhw's float64 (allowed: 1 in 200)."""
    pytest.importorskip("brevitas")
    import brevitas.nn as qnn
    from brevitas.core.scaling.standalone import ParameterFromStatsFromParameterScaling
    from brevitas.graph.gptq import gptq_mode
    from brevitas.quant import Int8WeightPerChannelFloat

    weight_quant = Int8WeightPerChannelFloat.let(
        narrow_range=False, scaling_impl=ParameterFromStatsFromParameterScaling)

    torch.manual_seed(7)
    model = torch.nn.Sequential(torch.nn.Linear(32, 24), torch.nn.ReLU(),
                                torch.nn.Linear(24, 10))
    data = [(torch.randn(64, 32) @ torch.randn(32, 32),) for _ in range(3)]
    quantized = quantize_(copy.deepcopy(model), QuantConfig(
        QuantSpec("int4", "channel", amax_code="min"), None, algorithms=("gptq",)), data)
    theirs = torch.nn.Sequential(*[
        qnn.QuantLinear(m.in_features, m.out_features, bias=True, weight_bit_width=4,
                        weight_quant=weight_quant) if isinstance(m, torch.nn.Linear)
        else torch.nn.ReLU() for m in model])
    theirs.load_state_dict(model.state_dict(), strict=False)  # its scales: set below
    theirs.eval()
    with torch.no_grad():
        theirs(*data[0])  # the weight quantizers take their scales here
        with gptq_mode(theirs, use_quant_activations=False, create_weight_orig=False) as g:
            for _ in range(g.num_layers):
                for batch in data:
                    g.model(*batch)
                g.update()
    compared = 0
    for name, layer in quantized_layers(quantized).items():
        q = theirs[int(name)].quant_weight()
        ints = torch.round(q.value / q.scale).to(torch.int64).numpy()
        np.testing.assert_allclose(layer.weight_scale.numpy(), q.scale.detach().double()
                                   .numpy(), rtol=1e-6)
        mine = parse("int4").decode(layer.weight_codes.numpy()).astype(np.int64)
        assert (mine != ints).mean() <= 1 / 200
        assert ints.min() == -8  # the full signed range is in use
        compared += ints.size
    assert compared == 24 * 32 + 10 * 24


def test_gptq_layers_see_the_quantized_layers_before_them(monkeypatch):
    """Sequential GPTQ: a later layer's Hessian comes from the earlier layers' quantized
    weights (float activations), as Brevitas's gptq_mode runs it."""
    from sqhw.ptq import api

    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(16, 12), torch.nn.ReLU(), torch.nn.Linear(12, 6))
    data = [(torch.randn(64, 16),) for _ in range(2)]
    seen = {}
    real = api.gptq

    def spy(w, hessian, spec, mask=None, damp=0.01):
        seen[w.shape] = hessian
        return real(w, hessian, spec, mask, damp)

    monkeypatch.setattr(api, "gptq", spy)
    quantize_(copy.deepcopy(model), QuantConfig(QuantSpec("int4", "channel"), None,
                                                algorithms=("gptq",)), data)
    first = real(model[0].weight.detach().double().numpy(), seen[(12, 16)],
                 QuantSpec("int4", "channel"))
    with torch.no_grad():
        hidden = [torch.relu(torch.nn.functional.linear(
            b[0].double(), torch.from_numpy(first.dequantize()), model[0].bias.double()))
            for b in data]
    want = sum((h.T @ h).numpy() for h in hidden)
    np.testing.assert_allclose(seen[(6, 12)], want, rtol=1e-5, atol=1e-5)
    assert len(seen) == 2


@pytest.mark.parametrize("make", [lambda: torch.nn.Linear(16, 8),
                                  lambda: torch.nn.Conv1d(4, 6, 3, padding=1)])
def test_bias_correction_removes_the_mean_output_error(make):
    """Bias correction (Brevitas's): on the calibration data the quantized layer's mean output
    equals the float layer's, weight and activation quantization error included; without it
    the mean error is visible. (It used to be computed and then dropped.)"""
    torch.manual_seed(6)
    model = torch.nn.Sequential(make())
    shape = (64, 16) if isinstance(model[0], torch.nn.Linear) else (64, 4, 12)
    data = [(torch.relu(torch.randn(*shape)) + 0.1,) for _ in range(3)]
    errors = {}
    for algorithms in ((), ("bias-correction",)):
        q = quantize_(copy.deepcopy(model), QuantConfig(QuantSpec("int4", "channel"),
                                                        QuantSpec("int4"),
                                                        algorithms=algorithms), data)
        set_engine(q, "exact")
        with torch.no_grad():
            diff = torch.cat([(model(*b).double() - q(*b).double()).transpose(0, 1)
                              .reshape(model(*b).shape[1], -1) for b in data], dim=1)
        errors[algorithms] = diff.mean(dim=1).abs().max().item()
        assert diff.numel() == 3 * 64 * (8 if len(shape) == 2 else 6 * 12)
    assert errors[()] > 1e-3
    assert errors[("bias-correction",)] < 1e-5


def test_smoothquant_keeps_the_function():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 16))
    x = torch.randn(64, 32)
    x[:, 3] *= 50  # an outlier channel, what SmoothQuant is for
    ref_out = model(x)
    cfg = QuantConfig(QuantSpec("int8", "channel"), QuantSpec("int8"), algorithms=("smoothquant",))
    plain = quantize_(copy.deepcopy(model), QuantConfig(QuantSpec("int8", "channel"),
                                                        QuantSpec("int8")), [(x,)])
    smooth = quantize_(copy.deepcopy(model), cfg, [(x,)])
    err_plain = (plain(x) - ref_out).abs().mean()
    err_smooth = (smooth(x) - ref_out).abs().mean()
    assert err_smooth < err_plain


def test_percentile_calibration_is_brevitas_rule():
    """Activation percentile calibration: each batch's k-th smallest |x| (k = floor(q n / 100
    + 0.5)), averaged over batches; equal to Brevitas's AbsPercentile where it is installed."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(40, 8))
    batches = [(torch.randn(25, 40) * (1 + i),) for i in range(3)]
    q = 99.5
    quantize_(model, QuantConfig(QuantSpec("int8", "channel"),
                                 QuantSpec("int8", calibration="percentile", percentile=q)),
              batches)
    per_batch = []
    for (x,) in batches:  # 1000 values: k = 995, the 6th largest
        values = np.sort(np.abs(x.numpy().astype(np.float64)).ravel())
        per_batch.append(values[int(np.floor(q / 100 * values.size + 0.5)) - 1])
    want = float(np.mean(per_batch))
    assert quantized_layers(model)["0"].act_amax == want and len(per_batch) == 3
    try:
        from brevitas.core.stats.stats_op import AbsPercentile
    except ImportError:
        return
    theirs = [float(AbsPercentile(q, None)(x.double())) for (x,) in batches]
    np.testing.assert_array_equal(np.array(theirs), np.array(per_batch), strict=True)


@pytest.mark.parametrize("name", ["int8", "float8_e4m3fn"])
def test_token_activations_scale_each_row_and_stay_exact(name):
    """granularity 'token': each input row gets the scale it would get as a tensor of its
    own; the exact engine is the ref matmul times those per-row scales."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(48, 12))
    x = torch.randn(6, 48, dtype=torch.float64) * torch.logspace(-2, 2, 6)[:, None]
    cfg = QuantConfig(QuantSpec(name, "channel"), QuantSpec(name, "token"))
    quantize_(model, cfg, [(x.float(),)])
    fc = quantized_layers(model)["0"]
    assert "A:" + name in cfg.label() and cfg.label().endswith("/token")
    qx = fc.quantize_input(x.numpy())
    for i, row in enumerate(x.numpy()):  # row i alone, per tensor, with its own max
        alone = quantize_act(row[None], QuantSpec(name), float(np.abs(row).max()))
        np.testing.assert_array_equal(qx.codes[i], alone.codes[0], strict=True)
        assert qx.scale[i, 0] == alone.scale[0, 0]
    acc = ref.matmul(fc.qweight.codes, fc.qweight.fmt, qx.codes.T, qx.fmt)  # (12, 6)
    unit = 2.0 ** -ref.product_format(fc.qweight.fmt, qx.fmt).frac_bits
    want = (acc.T.astype(np.float64) * unit * qx.scale[:, :1] * fc.qweight.scale[:, 0]
            + fc.bias.numpy())
    set_engine(model, "exact")
    got = fc(x).numpy()
    np.testing.assert_array_equal(got, want, strict=True)
    assert got.size == 72
    set_engine(model, "emulate")  # fake quantization per row too: close to the exact result
    np.testing.assert_allclose(fc(x.float()).double().numpy(), want, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="'token'.*Linear layers; layer '0' is a Conv2d"):
        quantize_(_model(), QuantConfig(QuantSpec("int8", "channel"), QuantSpec("int8", "token")),
                  _data())
    with pytest.raises(ValueError, match="weight: granularity 'token' is for activations"):
        QuantConfig(QuantSpec("int8", "token"))


def test_refusals():
    model = _model()
    with pytest.raises(ValueError, match="calibration"):
        quantize_(model, QuantConfig(QuantSpec("int8"), QuantSpec("int8")))
    with pytest.raises(ValueError, match="format: .*nope"):
        QuantSpec("nope")
    with pytest.raises(ValueError, match="block-scaled"):
        QuantSpec("mxfp4", "channel")
    with pytest.raises(ValueError, match="fewer than one group"):
        quantize_(_model(), QuantConfig(QuantSpec("int8"), sparsity="2:16"), _data())
    bad = [(torch.full((4, 3, 8, 8), float("nan")),)]
    with pytest.raises(ValueError, match="NaN"):
        quantize_(_model(), QuantConfig(QuantSpec("int8"), QuantSpec("int8")), bad)
    with pytest.raises(ValueError, match="act: no calibrated range"):
        quantize_act(np.ones((2, 2)), QuantSpec("int8"), None)


@pytest.mark.parametrize("argv,message", [
    (["--model", "resnet"], "--model: unknown model 'resnet'"),
    (["--formats", "int8,fp9"], "--formats: "),
    (["--sparsity", "2-4"], "--sparsity: "),
    (["--algo", "awq"], "--algo: unknown algorithm 'awq'"),
    (["--peers", "tensorrt"], "--peers: unknown peer 'tensorrt'"),
    (["--model", "missing.onnx"], "--model: missing.onnx: no such file"),
    (["--calibration", "percentile", "--percentile", "nan"], "--percentile: expected a number"),
    (["--percentile", "99"], "--percentile: applies with --calibration percentile only"),
])
def test_cli_refuses_bad_arguments(argv, message, capsys):
    assert main(["ptq", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_refuses_broken_and_unsupported_onnx(tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf")
    assert main(["ptq", "--model", str(broken)]) == 2
    assert "not a valid ONNX model" in capsys.readouterr().err
    node = helper.make_node("NonMaxSuppression", ["x", "s"], ["y"])
    graph = helper.make_graph([node], "g", [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 4]),
        helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, 1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [None, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    node2 = helper.make_node("Unique", ["x"], ["u"])
    model.graph.node.append(node2)
    model.graph.output.append(helper.make_tensor_value_info("u", TensorProto.FLOAT, [None]))
    path = tmp_path / "nms.onnx"
    onnx.save(model, str(path))
    assert main(["ptq", "--model", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unsupported ONNX ops" in err and "Unique" in err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_cli_onnx_model_runs_and_json(tmp_path, capsys, monkeypatch):
    """A user ONNX model end to end: export a small classifier, run two formats, read JSON."""
    monkeypatch.setenv("SQHW_CACHE_DIR", str(tmp_path / "cache"))
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    path = tmp_path / "mlp.onnx"
    torch.onnx.export(net, (torch.randn(2, 16),), str(path), input_names=["x"],
                      dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    assert main(["ptq", "--model", str(path), "--formats", "int8,mxfp4", "--json",
                 "-o", str(tmp_path / "out")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metric"] == "top1_agreement" and result["fp32"] == 1.0
    assert [(r["format"], r["engine"]) for r in result["rows"]] == [("int8", "sqhw"),
                                                                    ("mxfp4", "sqhw")]
    assert result["rows"][0]["score"] >= 0.9
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved == result
    # the rerun comes from the cache: identical rows
    assert main(["ptq", "--model", str(path), "--formats", "int8,mxfp4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == result["rows"]


def test_srste_finetune_gives_nm_weights_and_needs_data():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    x = torch.randn(256, 16)
    y = (x[:, :4].argmax(1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):  # a trained FP32 model first, as PTQ assumes
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    cfg = QuantConfig(QuantSpec("int8", "channel"), QuantSpec("int8"), sparsity="2:4",
                      algorithms=("srste",))
    with pytest.raises(ValueError, match="train: the srste algorithm"):
        quantize_(copy.deepcopy(model), cfg, [(x,)])
    with pytest.raises(ValueError, match="needs a sparsity pattern"):
        QuantConfig(QuantSpec("int8"), algorithms=("srste",))
    q = quantize_(copy.deepcopy(model), cfg, [(x,)], train=(x, y))
    checked = 0
    for layer in quantized_layers(q).values():
        nonzero = layer.qweight.dequantize() != 0
        groups = nonzero.reshape(nonzero.shape[0], -1, 4)
        assert groups.sum(-1).max() <= 2
        checked += groups.shape[0] * groups.shape[1]
    assert checked == 32 * 4 + 4 * 8
    accuracy = (q(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.7  # fine-tuned through the masks: far above chance (0.25)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_peers_score_the_same_model_and_data(tmp_path, monkeypatch, capsys):
    """ONNX Runtime, Brevitas and torchao rows on the digits CNN beside sqhw's, each scored
    by the same metric on the same evaluation tensors."""
    monkeypatch.setenv("SQHW_CACHE_DIR", str(tmp_path))
    assert main(["ptq", "--model", "digits", "--formats", "int8", "--peers",
                 "onnxruntime,brevitas,torchao", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    engines = {}
    for row in result["rows"]:
        engines.setdefault(row["engine"], []).append(row)
    assert [len(engines[e]) for e in ("sqhw", "onnxruntime", "brevitas", "torchao")] == \
        [1, 2, 2, 1]  # brevitas: int8 plain and with its GPTQ + bias correction
    for engine in ("sqhw", "onnxruntime", "brevitas", "torchao"):
        int8 = [r for r in engines[engine] if r["format"] == "int8" and r["status"] == "ok"]
        assert int8, engine
        assert all(r["n"] == 540 for r in int8)  # the same evaluation set
        assert all(abs(r["score"] - result["fp32"]) < 0.02 for r in int8)
