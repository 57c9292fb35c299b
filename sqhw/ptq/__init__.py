"""Post-training quantization: `quantize_(model, QuantConfig(...))`, quantized layers that
keep codes and scales, an exact engine (sqhw.ref's arithmetic on BLAS where provably exact)
and the study that scores formats beside ONNX Runtime on the same model and data.

Imports torch (the package `sqhw.ptq.config` alone does not)."""

from .api import quantize_, quantized_layers, set_engine, targets
from .config import ALGORITHMS, QuantConfig, QuantSpec
from .layers import ENGINES, QuantConv2d, QuantLinear

__all__ = ["ALGORITHMS", "ENGINES", "QuantConfig", "QuantConv2d", "QuantLinear", "QuantSpec",
           "quantize_", "quantized_layers", "set_engine", "targets"]
