"""Peers on the identical model, calibration tensors and metric: ONNX Runtime's
quantize_static (QDQ int8, per channel, MinMax and Percentile). Brevitas and torchao are not
wired in yet (see the README).

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

PEERS = ("onnxruntime",)
_PACKAGES = {"onnxruntime": ("onnxruntime", "pip install 'sqhw[ptq]'")}


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


def onnxruntime_rows(task, tick=lambda: None) -> list[dict]:
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
