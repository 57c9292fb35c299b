"""Peers on the identical model, calibration tensors and metric: ONNX Runtime's
quantize_static (QDQ int8, per channel, MinMax and Percentile), Brevitas 0.13 (int8, int4,
OCP FP8 E4M3, FP4 E2M1; its calibration, GPTQ and bias correction) and torchao 0.18
(nn.Linear layers: int8 dynamic, FP8 weight-only, MXFP8 / MXFP4 emulated, NVFP4 weight-only).

Each peer returns rows like sqhw's; a peer that is not installed gives one row with
`status: "missing"` and the install hint, never silently nothing.
"""

from __future__ import annotations

import importlib.util
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .config import ACT_PERCENTILE

PEERS = ("onnxruntime", "brevitas", "torchao")
_PACKAGES = {"onnxruntime": ("onnxruntime", "pip install 'sqhw[ptq]'"),
             "brevitas": ("brevitas", "pip install 'sqhw[peers]'"),
             "torchao": ("torchao", "pip install 'sqhw[peers]'")}


def peer_formats(peer: str, formats) -> list[str]:
    """The study's formats that a peer runs (ONNX Runtime: its int8 QDQ whatever asked)."""
    if peer == "onnxruntime":
        return ["int8"]
    known = BREVITAS_FORMATS if peer == "brevitas" else TORCHAO_FORMATS
    return [f for f in formats if f in known]


def row_count(peer: str, formats) -> int:
    return 2 * len(peer_formats(peer, formats))


def missing_row(peer: str) -> dict:
    module, hint = _PACKAGES[peer]
    return {"engine": peer, "format": "-", "sparsity": "dense", "algo": "-", "score": None,
            "status": "missing", "error": f"{module} is not installed ({hint})"}


def installed(peer: str) -> bool:
    return importlib.util.find_spec(_PACKAGES[peer][0]) is not None


def export_onnx(task, path: Path) -> Path:
    """The task's FP32 model as ONNX (opset 17), inputs named as the task names them."""
    import torch

    example = tuple(task.calibration[0])
    dynamic = {name: {0: "batch"} for name in task.input_names}
    if any(t.dim() >= 2 and t.dtype == torch.int64 for t in example):  # token inputs
        dynamic = {name: {0: "batch", 1: "sequence"} for name in task.input_names}
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, and reliable
        warnings.simplefilter("ignore")
        torch.onnx.export(task.model, example, str(path), input_names=list(task.input_names),
                          output_names=["out"], dynamic_axes=dynamic, opset_version=17,
                          dynamo=False)
    return path


class _Reader:
    def __init__(self, task):
        self.batches = [{n: t.numpy() for n, t in zip(task.input_names, b)}
                        for b in task.calibration]
        self.i = 0

    def get_next(self):
        if self.i >= len(self.batches):
            return None
        self.i += 1
        return self.batches[self.i - 1]

    def rewind(self):
        self.i = 0


def onnxruntime_rows(task, tick=lambda: None, formats=None) -> list[dict]:
    """QDQ int8 (symmetric per-channel weights, int8 activations) with MinMax and
    Percentile calibration, scored by the task's own metric. A calibrator that fails gives
    an error row; the other rows are kept."""
    rows = []
    logging.getLogger().setLevel(logging.ERROR)  # quantize_static logs its progress at INFO
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(task, Path(tmp) / "model.onnx")
        for method in ("MinMax", "Percentile"):
            row = {"engine": "onnxruntime", "format": "int8", "sparsity": "dense",
                   "algo": f"qdq/per-channel/{method.lower()}"}
            try:
                result = _ort_run(task, fp32, Path(tmp) / f"model.{method}.onnx", method)
                rows.append({**row, "status": "ok", **result})
            except Exception as err:  # ORT's calibrators raise assorted errors; keep the rest
                rows.append({**row, "status": "error", "score": None,
                             "error": f"{type(err).__name__}: {err}"})
            tick()
    return rows


def _ort_run(task, fp32: Path, out: Path, method: str) -> dict:
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    quantize_static(str(fp32), str(out), _Reader(task), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=getattr(CalibrationMethod, method),
                    extra_options={"ActivationSymmetric": True})
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])

    def forward(*inputs):
        feed = {n: t.numpy() for n, t in zip(task.input_names, inputs)}
        return torch.from_numpy(np.asarray(session.run(None, feed)[0]))

    return task.evaluate(forward)


# -- torchao ---------------------------------------------------------------------------------
TORCHAO_FORMATS = ("int8", "float8_e4m3fn", "mxfp8_e4m3", "mxfp4", "nvfp4")


def _torchao_configs():
    import torch
    from torchao.prototype.mx_formats import (MXDynamicActivationMXWeightConfig,
                                              NVFP4WeightOnlyConfig)
    from torchao.quantization import Float8WeightOnlyConfig, Int8DynamicActivationInt8WeightConfig
    from torchao.quantization.quantize_.common import KernelPreference

    emulated = KernelPreference.EMULATED
    return [  # (format, algo, config, run in bfloat16: torchao's MX path computes in bf16)
        ("int8", "dynamic-act/per-channel", Int8DynamicActivationInt8WeightConfig(), False),
        ("float8_e4m3fn", "weight-only", Float8WeightOnlyConfig(), False),
        ("mxfp8_e4m3", "dynamic-act/emulated/bf16", MXDynamicActivationMXWeightConfig(
            activation_dtype=torch.float8_e4m3fn, weight_dtype=torch.float8_e4m3fn,
            kernel_preference=emulated), True),
        ("mxfp4", "dynamic-act/emulated/bf16", MXDynamicActivationMXWeightConfig(
            activation_dtype=torch.float4_e2m1fn_x2, weight_dtype=torch.float4_e2m1fn_x2,
            kernel_preference=emulated), True),
        ("nvfp4", "weight-only", NVFP4WeightOnlyConfig(), False),
    ]


def torchao_rows(task, tick=lambda: None, formats=None) -> list[dict]:
    """torchao's quantize_ on the model's nn.Linear layers (torchao touches nothing else;
    Conv layers stay FP32, said in the algo column for models that have them)."""
    import copy

    import torch
    from torchao.quantization import quantize_

    has_conv = any(isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)) for m in task.model.modules())
    rows = []
    for fmt, algo, config, bf16 in _torchao_configs():
        if formats is not None and fmt not in formats:
            continue
        row = {"engine": "torchao", "format": fmt, "sparsity": "dense",
               "algo": algo + ("/linear-only" if has_conv else "")}
        try:
            model = copy.deepcopy(task.model)
            if bf16:
                model = model.to(torch.bfloat16)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_(model, config)

            def forward(*inputs, model=model, bf16=bf16):
                if bf16:
                    inputs = [t.to(torch.bfloat16) if t.is_floating_point() else t
                              for t in inputs]
                return model(*inputs).float()

            rows.append({**row, "status": "ok", **task.evaluate(forward)})
        except Exception as err:  # torchao refuses shapes/dtypes with assorted errors
            rows.append({**row, "status": "error", "score": None,
                         "error": f"{type(err).__name__}: {str(err)[:300]}"})
        tick()
        tick()  # one row per format (progress counts two per format for every peer)
    return rows


# -- Brevitas ---------------------------------------------------------------------------------
BREVITAS_FORMATS = {  # format -> (quant_format, bits, exponent bits, mantissa bits)
    "int8": ("int", 8, 0, 0), "int4": ("int", 4, 0, 0),
    "float8_e4m3fn": ("float_ocp", 8, 4, 3), "float4_e2m1fn": ("float_ocp", 4, 2, 1),
}


def brevitas_rows(task, tick=lambda: None, formats=None) -> list[dict]:
    """Brevitas 0.13 (its ImageNet PTQ example's quantize_model, layerwise backend: every
    Conv/Linear gets quantized weights (per channel) and inputs (per tensor, static,
    calibrated), first and last layers at the same width as the rest), calibrated on the
    same batches, with and without its GPTQ + bias correction."""
    rows = []
    for fmt in BREVITAS_FORMATS:
        if formats is not None and fmt not in formats:
            continue
        for algorithms in ((), ("gptq", "bias-correction")):
            rows.append(brevitas_row(task, fmt, algorithms))
            tick()
    return rows


def brevitas_row(task, fmt: str, algorithms: tuple[str, ...]) -> dict:
    """One Brevitas row: format `fmt` (of BREVITAS_FORMATS), then its GPTQ and / or bias
    correction where `algorithms` names them (in that order, as its example runs them)."""
    import copy

    import torch

    with warnings.catch_warnings():  # Brevitas warns on import (optional kernels missing)
        warnings.simplefilter("ignore")
        from brevitas_examples.imagenet_classification.ptq import ptq_common as bp

    quant_format, bits, exp, man = BREVITAS_FORMATS[fmt]
    loader = [(batch[0], None) for batch in task.calibration]
    row = {"engine": "brevitas", "format": fmt, "sparsity": "dense",
           "algo": "+".join(algorithms) or "none"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            minifloat = {} if quant_format == "int" else dict(
                layerwise_first_last_mantissa_bit_width=man,
                layerwise_first_last_exponent_bit_width=exp,
                weight_mantissa_bit_width=man, weight_exponent_bit_width=exp,
                act_mantissa_bit_width=man, act_exponent_bit_width=exp)
            model = bp.quantize_model(
                copy.deepcopy(task.model), backend="layerwise", weight_bit_width=bits,
                act_bit_width=bits, bias_bit_width=None,
                weight_quant_granularity="per_channel",
                act_quant_percentile=ACT_PERCENTILE,
                act_quant_type="sym", scale_factor_type="float_scale",
                quant_format=quant_format, layerwise_first_last_bit_width=bits,
                uint_sym_act_for_unsigned_values=False, **minifloat)
            with torch.no_grad():  # initialises the weight quantizers
                model(*task.calibration[0])
            _quiet(bp.calibrate, loader, model)
            if "gptq" in algorithms:
                _quiet(bp.apply_gptq, loader, model)
            if "bias-correction" in algorithms:
                _quiet(bp.apply_bias_correction, loader, model)
        model.eval()
        with torch.no_grad():
            result = task.evaluate(lambda *x, m=model: m(*x).value
                                   if hasattr(m(*x), "value") else m(*x))
        return {**row, "status": "ok", **result}
    except Exception as err:  # Brevitas raises assorted errors on unusual graphs
        return {**row, "status": "error", "score": None,
                "error": f"{type(err).__name__}: {str(err)[:300]}"}


def _quiet(fn, *args):
    """Run a Brevitas example helper without its tqdm bars on the terminal."""
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)
