"""PTQ configurations: frozen dataclasses, one axis per field (format, granularity, scale
kind, rounding, calibration), as Brevitas keeps its quantizer axes and torchao its configs.

>>> from sqhw.ptq import QuantConfig, QuantSpec
>>> cfg = QuantConfig(weight=QuantSpec("int8", granularity="channel"), act=QuantSpec("int8"))
>>> cfg.weight.fmt.bits, cfg.weight.granularity, cfg.act.calibration
(8, 'channel', 'minmax')
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Mapping

import numpy as np

from ..formats import BlockScaled, Fixed, Minifloat, parse
from ..formats.rounding import ROUNDING_MODES
from ..sparsity import NM

GRANULARITIES = ("tensor", "channel", "group")
SCALES = ("float", "pow2", "dyadic")
CALIBRATIONS = ("minmax", "percentile", "mse")
# the element value a calibrated range maps to: the format's largest ("max", int4: 7), or
# the magnitude of its most negative ("min", int4: 8; Brevitas's signed integers without
# narrow range: scale = amax / 2^(b-1)); the same for symmetric formats (minifloats)
AMAX_CODES = ("max", "min")
# the study's activation percentile: Brevitas's PTQ default, so the two calibrate alike
ACT_PERCENTILE = 99.999
ALGORITHMS = ("bias-correction", "smoothquant", "gptq", "srste")


@dataclasses.dataclass(frozen=True)
class QuantSpec:
    """How one tensor is quantized.

    format: a format name (`parse`) or object; block formats (mxfp4, nvfp4, ...) carry their
    own block scales along the reduction axis, so granularity and scale must stay default.
    granularity: "tensor", "channel" (per output channel; weights only), "token"
    (activations of Linear layers only: one scale per row, i.e. per token or sample, taken at
    run time from that row under `calibration`: dynamic quantization) or ("group", k) (k
    consecutive weights of a row share a scale). scale: "float" (amax / format max),
    "pow2" (the next power of two up: a shift in hardware) or "dyadic" (m / 2**s with a
    16-bit m). calibration: "minmax", "percentile" (of |x|, `percentile`; for activations each
    calibration batch's exact percentile, averaged over the batches, as Brevitas calibrates)
    or "mse" (the clipping that minimises the squared error, searched on a grid).
    amax_code: the element value the range (amax) maps to, so scale = amax / that value:
    "max" the format's largest (int4: 7; every code of [-amax, amax] in range) or "min" the
    magnitude of its most negative (int4: 8, scale = amax / 2^(b-1): Brevitas's signed
    integer quantizers without narrow range; +amax saturates to 7/8 of itself, the grid is
    8/7 finer). The two differ for integer formats only (minifloats are symmetric).
    """

    format: object
    granularity: object = "tensor"
    scale: str = "float"
    rounding: str = "rne"
    calibration: str = "minmax"
    percentile: float = 99.99
    amax_code: str = "max"

    def __post_init__(self):
        fmt = self.format
        if isinstance(fmt, str):
            try:
                fmt = parse(fmt)
            except ValueError as err:
                raise ValueError(f"format: {err}") from None
        if not isinstance(fmt, (Fixed, Minifloat, BlockScaled)):
            raise TypeError(f"format: expected a format name or object, got {fmt!r}")
        if isinstance(fmt, (Fixed, Minifloat)) and (not fmt.signed or fmt.max <= 0
                                                   or not _has_zero(fmt)):
            raise ValueError(f"format: {fmt.name} cannot hold signed data with a zero "
                             "(unsigned or scale-only formats are not PTQ element formats)")
        object.__setattr__(self, "format", fmt)
        granularity = self.granularity
        if isinstance(granularity, list):
            granularity = tuple(granularity)
        if isinstance(granularity, tuple):
            ok = (len(granularity) == 2 and granularity[0] == "group"
                  and isinstance(granularity[1], int) and granularity[1] >= 1)
            if not ok:
                raise ValueError(f"granularity: expected ('group', k) with k >= 1, got "
                                 f"{self.granularity!r}")
        elif granularity not in ("tensor", "channel", "token"):
            raise ValueError(f"granularity: expected 'tensor', 'channel', 'token' or "
                             f"('group', k), got {granularity!r}")
        object.__setattr__(self, "granularity", granularity)
        _choice("scale", self.scale, SCALES)
        _choice("rounding", self.rounding, ROUNDING_MODES)
        _choice("calibration", self.calibration, CALIBRATIONS)
        _choice("amax_code", self.amax_code, AMAX_CODES)
        if self.rounding == "stochastic":
            raise ValueError("rounding: stochastic rounding is not offered for PTQ (results "
                             "would depend on the seed); use rne, rtz, rna, floor or ceil")
        if not (isinstance(self.percentile, (int, float)) and 50 < self.percentile <= 100):
            raise ValueError(f"percentile: expected a number in (50, 100], got {self.percentile!r}")
        if self.block and (granularity != "tensor" or self.scale != "float"
                           or self.amax_code != "max"):
            raise ValueError(f"format: {fmt.name} is block-scaled (its own scale per block of "
                             f"{fmt.block_size}); leave granularity='tensor', scale='float' "
                             "and amax_code='max'")

    @property
    def fmt(self):
        return self.format

    @property
    def amax_value(self) -> float:
        """The element value a range amax maps to (scale = amax / amax_value)."""
        if self.amax_code == "max":
            return float(self.format.max)
        table = self.format.table
        return float(-table[np.isfinite(table)].min())

    @property
    def block(self) -> bool:
        return isinstance(self.format, BlockScaled)

    @property
    def group_size(self) -> int | None:
        return self.granularity[1] if isinstance(self.granularity, tuple) else None

    def label(self) -> str:
        parts = [self.format.name]
        if not self.block:
            g = self.granularity
            parts.append(f"group{g[1]}" if isinstance(g, tuple) else g)
            if self.scale != "float":
                parts.append(self.scale)
            if self.calibration == "percentile":
                parts.append(f"percentile{self.percentile:g}")
            elif self.calibration != "minmax":
                parts.append(self.calibration)
            if self.amax_code != "max":
                parts.append(f"amax-to-{self.amax_code}")
        return "/".join(parts)


@dataclasses.dataclass(frozen=True)
class QuantConfig:
    """What `quantize_` does to every Linear / Conv layer.

    weight: the weight spec; act: the input-activation spec (None: weights only);
    sparsity: an N:M pattern pruned into the weights before quantization (None: dense);
    overrides: {"layer-name glob": QuantConfig or None} (None keeps the layer in FP32; the
    first matching glob wins); algorithms: any of "bias-correction", "smoothquant", "gptq",
    "srste" (an SR-STE fine-tune of the N:M weights before quantization; needs training data);
    smoothquant_alpha: SmoothQuant's migration strength.
    """

    weight: QuantSpec
    act: QuantSpec | None = None
    sparsity: NM | None = None
    overrides: Mapping[str, "QuantConfig | None"] = dataclasses.field(default_factory=dict)
    algorithms: tuple[str, ...] = ()
    smoothquant_alpha: float = 0.5
    gptq_damp: float = 0.01

    def __post_init__(self):
        if not isinstance(self.weight, QuantSpec):
            raise TypeError(f"weight: expected a QuantSpec, got {self.weight!r}")
        if self.act is not None and not isinstance(self.act, QuantSpec):
            raise TypeError(f"act: expected a QuantSpec or None, got {self.act!r}")
        if self.act is not None and self.act.granularity not in ("tensor", "token"):
            raise ValueError("act: activations are quantized per tensor or per token (or per "
                             f"block for block formats), got granularity "
                             f"{self.act.granularity!r}")
        if self.weight.granularity == "token":
            raise ValueError("weight: granularity 'token' is for activations (a scale per "
                             "input row); weights take 'tensor', 'channel' or ('group', k)")
        sparsity = self.sparsity
        if isinstance(sparsity, str):
            sparsity = NM.parse(sparsity)
            object.__setattr__(self, "sparsity", sparsity)
        if sparsity is not None and not isinstance(sparsity, NM):
            raise TypeError(f"sparsity: expected an NM pattern or 'n:m', got {sparsity!r}")
        algorithms = tuple(self.algorithms)
        for name in algorithms:
            _choice("algorithms", name, ALGORITHMS)
        if "smoothquant" in algorithms and self.act is None:
            raise ValueError("algorithms: smoothquant moves range from activations to "
                             "weights and needs an act spec (drop it for weight-only runs)")
        if "srste" in algorithms and sparsity is None:
            raise ValueError("algorithms: srste fine-tunes N:M sparse weights and needs a "
                             "sparsity pattern")
        object.__setattr__(self, "algorithms", algorithms)
        if not (isinstance(self.smoothquant_alpha, (int, float))
                and 0 <= self.smoothquant_alpha <= 1):
            raise ValueError(f"smoothquant_alpha: expected a number in [0, 1], got "
                             f"{self.smoothquant_alpha!r}")
        for glob, sub in dict(self.overrides).items():
            if sub is not None and not isinstance(sub, QuantConfig):
                raise TypeError(f"overrides[{glob!r}]: expected a QuantConfig or None, got {sub!r}")

    def __hash__(self):
        return hash((self.weight, self.act, self.sparsity, tuple(dict(self.overrides).items()),
                     self.algorithms, self.smoothquant_alpha, self.gptq_damp))

    def for_layer(self, name: str) -> "QuantConfig | None":
        """The config of one layer by name: the first matching override, else this one."""
        for glob, sub in dict(self.overrides).items():
            if fnmatch.fnmatchcase(name, glob):
                return sub
        return self

    def label(self) -> str:
        text = f"W:{self.weight.label()}"
        if self.act is not None:
            text += f" A:{self.act.label()}"
        return text


def _choice(key: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{key}: expected one of {', '.join(allowed)}, got {value!r}")


def _has_zero(fmt) -> bool:
    return bool((fmt.table == 0).any())

