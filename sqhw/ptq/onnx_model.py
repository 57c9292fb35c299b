"""User ONNX models: imported into torch through onnx2torch, with every unsupported op
refused by name before anything runs. Without labels, the metric is agreement with the FP32
model on seeded synthetic inputs drawn from the graph's input shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .task import AgreementWithReference, EmbeddingCosine, Task

_DTYPES = {1: "float32", 7: "int64", 6: "int32", 11: "float64"}


class ModelError(ValueError):
    pass


_NEEDS_TORCHVISION = {"NonMaxSuppression", "RoiAlign"}  # onnx2torch's converters using it


def _onnx2torch():
    """Import onnx2torch. It imports torchvision for two converters only; PyPI's torchvision
    wheel links CUDA libraries, so on a CPU-only torch its import fails. Then onnx2torch is
    loaded with a placeholder for torchvision that exists only during that import, and the
    two ops that need it are refused by name like any other unsupported op."""
    import importlib
    import sys
    import types

    try:
        import torchvision  # noqa: F401
        return importlib.import_module("onnx2torch"), set()
    except (ImportError, RuntimeError, OSError):
        for name in [m for m in sys.modules if m == "torchvision" or
                     m.startswith("torchvision.")]:
            del sys.modules[name]
    placeholder = types.ModuleType("torchvision")
    placeholder.ops = types.ModuleType("torchvision.ops")
    placeholder.ops.roi_align = None
    sys.modules["torchvision"], sys.modules["torchvision.ops"] = placeholder, placeholder.ops
    try:
        return importlib.import_module("onnx2torch"), set(_NEEDS_TORCHVISION)
    finally:
        del sys.modules["torchvision"], sys.modules["torchvision.ops"]


def unsupported_ops(model) -> list[str]:
    _, unavailable = _onnx2torch()
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY

    known = {(d.domain or "", d.operation_type) for d in _CONVERTER_REGISTRY}
    return sorted({n.op_type for n in model.graph.node
                   if (n.domain or "", n.op_type) not in known or n.op_type in unavailable})


def load_onnx(path, batch: int = 8, seed: int = 0) -> Task:
    import onnx
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"--model: {path}: no such file")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as err:  # onnx raises its own error types, and protobuf DecodeError
        raise ModelError(f"--model: {path}: not a valid ONNX model ({err})") from None
    missing = unsupported_ops(model)
    if missing:
        raise ModelError(f"--model: {path}: unsupported ONNX ops: {', '.join(missing)}")
    onnx2torch, _ = _onnx2torch()
    try:
        net = onnx2torch.convert(model).eval()
    except Exception as err:
        raise ModelError(f"--model: {path}: onnx2torch could not convert it ({err})") from None
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    rng = np.random.default_rng(seed)

    def draw():
        tensors = []
        for inp in inputs:
            t = inp.type.tensor_type
            dims = [d.dim_value if d.dim_value > 0 else (batch if k == 0 else 1)
                    for k, d in enumerate(t.shape.dim)]
            dtype = _DTYPES.get(t.elem_type)
            if dtype is None or not dtype.startswith("float"):
                raise ModelError(f"--model: {path}: input {inp.name!r} has element type "
                                 f"{t.elem_type}; only float inputs can be synthesised")
            tensors.append(torch.from_numpy(rng.standard_normal(dims).astype(dtype)))
        return tuple(tensors)

    calibration = [draw() for _ in range(4)]
    evaluation = [draw() for _ in range(8)]
    with torch.no_grad():
        reference = [net(*b) for b in evaluation]
    if not all(isinstance(r, torch.Tensor) for r in reference):
        raise ModelError(f"--model: {path}: the model must have one tensor output")
    metric = AgreementWithReference(reference) if reference[0].dim() == 2 and \
        reference[0].shape[-1] >= 5 else EmbeddingCosine([r.reshape(r.shape[0], -1)
                                                          for r in reference])
    if isinstance(metric, EmbeddingCosine):
        wrapped = metric

        class Flat(EmbeddingCosine):
            def __call__(self, outputs):
                return wrapped([o.reshape(o.shape[0], -1) for o in outputs])

        metric = Flat(wrapped.reference)
    return Task(path.stem, net, calibration, evaluation, metric,
                input_names=tuple(i.name for i in inputs))
