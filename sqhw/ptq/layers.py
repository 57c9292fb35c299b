"""Quantized Linear and Conv2d layers: they keep codes and scales, and run on one of two
engines.

- "emulate": float32 math on the dequantized weights and fake-quantized activations (fast).
- "exact": activation codes and weight codes become exact integers (sqhw.ref's values),
  multiplied and summed exactly (`sqhw.ptq.exact`: BLAS where provably exact), then scaled
  in float64, as the requantizer does in hardware.

A layer's weight is a (out, K) matrix: Linear's as is, Conv2d's flattened over
(in/groups, kh, kw), the order `torch.nn.functional.unfold` gives its patches.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import exact
from .config import QuantConfig
from .quantizer import QTensor, quantize_act

ENGINES = ("emulate", "exact")


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).cpu().numpy()


class QuantLayer(torch.nn.Module):
    """What Linear and Conv2d share: weight codes + scales, bias, the activation quantizer."""

    def __init__(self, name: str, config: QuantConfig, weight: QTensor, bias, act_amax,
                 smooth: np.ndarray | None):
        super().__init__()
        self.name = name
        self.config = config
        self.qweight = weight
        self.engine = "emulate"
        self.act_amax = act_amax
        self.smooth = smooth  # SmoothQuant: inputs are divided by it per input channel
        self.register_buffer("weight_codes", torch.from_numpy(np.asarray(weight.codes)
                                                              .astype(np.int64)))
        self.register_buffer("weight_scale", torch.from_numpy(weight.scale.copy()))
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.float64))
        self._w_deq = torch.from_numpy(weight.dequantize())

    @property
    def act_spec(self):
        return self.config.act

    def quantize_input(self, rows: np.ndarray) -> QTensor:
        return quantize_act(rows, self.act_spec, self.act_amax)

    def quantized_input(self, x: torch.Tensor) -> torch.Tensor:
        """What this layer's arithmetic sees of input x: smoothed, then through the activation
        quantizer, as float64 values (x itself where activations stay float)."""
        return self._fake_quant(self._smoothed(x.detach().to(torch.float64)))

    def _smoothed(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.smooth is None else x / torch.from_numpy(self.smooth).to(x.dtype)

    def _fake_quant(self, x: torch.Tensor) -> torch.Tensor:
        """Activations through the act quantizer, as float32 values (emulate engine)."""
        if self.act_spec is None:
            return x
        if self.act_spec.block or self.act_spec.granularity == "token":
            # blocks and tokens run along the last axis (K of a Linear layer's input)
            rows = _np(x).reshape(-1, x.shape[-1])
            return torch.from_numpy(self.quantize_input(rows).dequantize()).to(x.dtype) \
                .reshape(x.shape)
        flat = _np(x).reshape(1, -1)
        return torch.from_numpy(self.quantize_input(flat).dequantize()).to(x.dtype) \
            .reshape(x.shape)

    def extra_repr(self) -> str:
        return f"{self.name}: {self.config.label()}, engine={self.engine}"


class QuantLinear(QuantLayer):
    def __init__(self, name, module: torch.nn.Linear, config, weight, act_amax, smooth):
        super().__init__(name, config, weight, module.bias, act_amax, smooth)
        self.in_features, self.out_features = module.in_features, module.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = self._smoothed(x)
        if self.engine == "exact" and self.act_spec is not None:
            rows = _np(x).reshape(-1, self.in_features)
            y = torch.from_numpy(exact.linear(self.quantize_input(rows), self.qweight))
            y = y.reshape(*x.shape[:-1], self.out_features)
            if self.bias is not None:
                y = y + self.bias
            return y.to(dtype)
        if self.engine == "exact":  # weights only: float64 products of the exact weights
            return F.linear(x.to(torch.float64), self._w_deq, self.bias).to(dtype)
        xq = self._fake_quant(x)
        bias = None if self.bias is None else self.bias.to(dtype)
        return F.linear(xq, self._w_deq.to(dtype), bias)


class QuantConv2d(QuantLayer):
    def __init__(self, name, module: torch.nn.Conv2d, config, weight, act_amax, smooth):
        super().__init__(name, config, weight, module.bias, act_amax, smooth)
        if module.padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode {module.padding_mode!r} is not supported "
                             "(zeros only)")
        self.weight_shape = tuple(module.weight.shape)
        self.conv = dict(stride=module.stride, padding=module.padding,
                         dilation=module.dilation, groups=module.groups)

    def _weight4d(self, values: np.ndarray, dtype) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(values)).reshape(self.weight_shape) \
            .to(dtype)

    def _smoothed(self, x):
        if self.smooth is None:
            return x
        per_channel = self.smooth.reshape(x.shape[1], -1)[:, 0]
        return x / torch.from_numpy(per_channel).to(x.dtype)[None, :, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = self._smoothed(x)
        spec = self.act_spec
        one_run = self.qweight.group >= self.qweight.k
        if self.engine == "exact" and spec is not None and not spec.block and one_run:
            return self._exact_direct(x).to(dtype)
        if self.engine == "exact" and spec is not None:
            return self._exact_unfold(x).to(dtype)
        if self.engine == "exact":
            return F.conv2d(x.to(torch.float64), self._weight4d(self.qweight.dequantize(),
                                                                 torch.float64),
                            self.bias, **self.conv).to(dtype)
        if spec is not None and spec.block:
            return self._exact_unfold(x, emulate=True).to(dtype)
        xq = self._fake_quant(x)
        bias = None if self.bias is None else self.bias.to(dtype)
        return F.conv2d(xq, self._w_deq.reshape(self.weight_shape).to(dtype), bias, **self.conv)

    def _exact_direct(self, x: torch.Tensor) -> torch.Tensor:
        """Per-tensor activations and one weight scale per channel: a float64 convolution of
        the exact integers is exact while K * max|product| < 2**53 (checked)."""
        q = self.quantize_input(_np(x).reshape(1, -1))
        xi = exact.blas_ints(q).reshape(x.shape)
        wi = exact.blas_ints(self.qweight)
        k = self.qweight.k
        bound = k * exact._absmax(xi) * exact._absmax(wi)
        if bound > exact.F64_EXACT:
            return self._exact_unfold(x)  # past float64's exact range: chunked matmuls
        # a direct / GEMM convolution adds integers in some order: exact in float32 while
        # every partial sum stays <= 2**24 (oneDNN's direct algorithm), else in float64
        dtype = torch.float32 if bound <= exact.F32_EXACT else torch.float64
        acc = F.conv2d(torch.from_numpy(xi).to(dtype), self._weight4d(wi, dtype), None,
                       **self.conv).to(torch.float64)
        unit = 2.0 ** -(exact.frac_bits(q.fmt) + exact.frac_bits(self.qweight.fmt))
        sw = torch.from_numpy(np.ascontiguousarray(self.qweight.scale[:, 0]))
        y = acc * unit * float(q.scale[0, 0]) * sw[None, :, None, None]  # as exact.linear
        if self.bias is not None:
            y = y + self.bias[None, :, None, None]
        return y

    def _exact_unfold(self, x: torch.Tensor, emulate: bool = False) -> torch.Tensor:
        """im2col, then one quantized matmul per group (per channel for depthwise)."""
        out_channels, _, kh, kw = self.weight_shape
        groups = self.conv["groups"]
        b = x.shape[0]
        patches = F.unfold(x.to(torch.float64), (kh, kw), dilation=self.conv["dilation"],
                           padding=self.conv["padding"], stride=self.conv["stride"])
        length = patches.shape[-1]
        k = patches.shape[1] // groups
        rows_all = patches.transpose(1, 2).reshape(b * length, groups, k).numpy()
        per_group = out_channels // groups
        w = self.qweight
        ys = []
        for g in range(groups):
            rows = np.ascontiguousarray(rows_all[:, g])
            wg = QTensor(w.codes[g * per_group:(g + 1) * per_group], w.fmt,
                         w.scale[g * per_group:(g + 1) * per_group] if w.scale.shape[0] > 1
                         else w.scale, w.group,
                         None if w.block is None else type(w.block)(
                             np.asarray(w.block.elements)[g * per_group:(g + 1) * per_group],
                             np.asarray(w.block.scales)[g * per_group:(g + 1) * per_group],
                             w.block.tensor_scale), w.block_fmt)
            xq = self.quantize_input(rows)
            if emulate:
                ys.append(xq.dequantize() @ wg.dequantize().T)
            else:
                ys.append(exact.linear(xq, wg))
        y = torch.from_numpy(np.concatenate(ys, axis=1))  # (b*L, out)
        if self.bias is not None:
            y = y + self.bias
        oh = (x.shape[2] + 2 * self.conv["padding"][0] - self.conv["dilation"][0] * (kh - 1)
              - 1) // self.conv["stride"][0] + 1
        return y.reshape(b, length, out_channels).transpose(1, 2).reshape(b, out_channels,
                                                                          oh, -1)


def conv1d_as_conv2d(module: torch.nn.Conv1d) -> torch.nn.Conv2d:
    """The Conv2d that computes module on inputs (B, C, 1, L): kernel (1, k)."""
    conv = torch.nn.Conv2d(module.in_channels, module.out_channels, (1, module.kernel_size[0]),
                           stride=(1, module.stride[0]), padding=(0, module.padding[0]),
                           dilation=(1, module.dilation[0]), groups=module.groups,
                           bias=module.bias is not None, padding_mode=module.padding_mode)
    with torch.no_grad():
        conv.weight.copy_(module.weight.unsqueeze(2))
        if module.bias is not None:
            conv.bias.copy_(module.bias)
    return conv


class QuantConv1d(QuantConv2d):
    """Conv1d as a Conv2d of kernel (1, k) over (B, C, 1, L)."""

    def __init__(self, name, module: torch.nn.Conv1d, config, weight, act_amax, smooth):
        super().__init__(name, conv1d_as_conv2d(module), config, weight, act_amax, smooth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.unsqueeze(2)).squeeze(2)

    def quantized_input(self, x: torch.Tensor) -> torch.Tensor:
        return super().quantized_input(x.unsqueeze(2)).squeeze(2)
