"""`quantize_(model, config, calibration)`: every Linear / Conv1d / Conv2d becomes a quantized layer
that keeps its codes and scales (torchao's one entry point, in place).

>>> import torch
>>> from sqhw.ptq import QuantConfig, QuantSpec, quantize_, set_engine
>>> torch.manual_seed(0) and None
>>> model = torch.nn.Sequential(torch.nn.Linear(64, 8))
>>> data = [(torch.randn(16, 64),)]
>>> cfg = QuantConfig(weight=QuantSpec("int8", "channel"), act=QuantSpec("int8"))
>>> _ = quantize_(model, cfg, calibration=data)
>>> type(model[0]).__name__, tuple(model[0].weight_codes.shape)
('QuantLinear', (8, 64))
>>> y = set_engine(model, "exact")(data[0][0]); y.shape
torch.Size([16, 8])
"""

from __future__ import annotations

import numpy as np
import torch

from .calibrate import collect, input_rows
from .config import QuantConfig
from .gptq import gptq
from .layers import ENGINES, QuantConv1d, QuantConv2d, QuantLayer, QuantLinear
from .quantizer import calibrate_amax, quantize_weight

SUPPORTED = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)
LAYER_CLASS = {torch.nn.Linear: QuantLinear, torch.nn.Conv1d: QuantConv1d,
               torch.nn.Conv2d: QuantConv2d}


def targets(model, config: QuantConfig) -> dict:
    """{name: (module, its config)} of the layers quantize_ replaces (overrides applied)."""
    found = {}
    for name, module in model.named_modules():
        if isinstance(module, SUPPORTED):
            sub = config.for_layer(name)
            if sub is not None:
                found[name] = (module, sub)
    return found


def weight_matrix(module) -> np.ndarray:
    """(out, K) float64: Conv1d / Conv2d weights flattened over (in/groups, kh, kw)."""
    w = module.weight.detach().to(torch.float64).numpy()
    return w.reshape(w.shape[0], -1)


def check_sparsity(name: str, module, config: QuantConfig) -> None:
    nm = config.sparsity
    if nm is None:
        return
    k = weight_matrix(module).shape[1]
    if k < nm.m:
        raise ValueError(f"sparsity: layer {name!r} has K={k} weights per output, fewer than "
                         f"one group of {nm}; exclude it with overrides={{{name!r}: None}}")


def quantize_(model: torch.nn.Module, config: QuantConfig, calibration=None,
              progress=None, train=None) -> torch.nn.Module:
    """Replace every Linear / Conv2d of model (in place) by a quantized layer.

    calibration: batches (tuples of input tensors) run through the FP32 model to find the
    activation ranges and the statistics that bias correction, SmoothQuant and GPTQ use;
    required when any layer quantizes activations or runs one of those algorithms.
    progress: an optional callable(step: str) called as work advances.
    train: (inputs, labels) of a classifier, for the "srste" algorithm (N:M fine-tune).
    """
    if not isinstance(config, QuantConfig):
        raise TypeError(f"config: expected a QuantConfig, got {config!r}")
    layers = targets(model, config)
    if not layers:
        raise ValueError("model: no Linear or Conv2d layer to quantize (or every one excluded "
                         "by overrides)")
    for name, (module, sub) in layers.items():
        check_sparsity(name, module, sub)
    needs_data = {n for n, (_, c) in layers.items() if c.act is not None or c.algorithms}
    batches = list(calibration) if calibration is not None else []
    if needs_data and not batches:
        raise ValueError("calibration: activation quantization and the algorithms need "
                         "calibration batches")
    tick = progress or (lambda step: None)
    tuned = [n for n, (_, c) in layers.items() if "srste" in c.algorithms]
    if tuned:
        if train is None:
            raise ValueError("train: the srste algorithm fine-tunes the model and needs "
                             "training data (inputs, labels)")
        nms = {layers[n][1].sparsity for n in tuned}
        if len(nms) > 1:
            raise ValueError("algorithms: srste runs one N:M pattern for the whole model, "
                             f"got {', '.join(map(str, nms))}")
        from .finetune import srste_finetune

        fine = srste_finetune(model, nms.pop(), train, tuned)
        model.load_state_dict(fine.state_dict())
        tick("fine-tune")
    model.eval()
    smooth = {}
    smoothing = {n for n, (m, c) in layers.items() if "smoothquant" in c.algorithms
                 and (isinstance(m, torch.nn.Linear) or m.groups == 1)}
    stats = {}
    if needs_data:
        stats = collect(model, {n: layers[n][0] for n in needs_data}, batches,
                        want_hessian=_first_pass_hessians(layers, needs_data),
                        progress=lambda: tick("calibrate"),
                        percentiles={n: layers[n][1].act.percentile for n in needs_data
                                     if layers[n][1].act is not None
                                     and layers[n][1].act.calibration == "percentile"})
    for name in smoothing:
        smooth[name] = _smoothquant(layers[name][0], stats[name], layers[name][1])
    replaced = {}
    shadow = _Shadow(model) if any("gptq" in c.algorithms for _, c in layers.values()) \
        else None
    for name, (module, sub) in layers.items():
        if "gptq" in sub.algorithms and shadow.changed:
            # GPTQ sees the inputs that the layers quantized before it give (as Brevitas's
            # gptq_mode does): the layer's Hessian again, through their quantized weights
            stats[name].hessian = shadow.hessian(name, batches)
        replaced[name] = _quantize_layer(name, module, sub, stats.get(name), smooth.get(name))
        if shadow is not None:
            shadow.load(name, replaced[name])
        tick("quantize")
    corrected = [n for n, (_, c) in layers.items() if "bias-correction" in c.algorithms]
    if corrected:
        _bias_correct(model if shadow is None else shadow.model, layers, replaced, corrected,
                      batches)
        tick("bias correction")
    for name, new in replaced.items():
        _set_module(model, name, new)
    return model


def _first_pass_hessians(layers, needs_data) -> set:
    """The layers whose GPTQ Hessian the first calibration pass gives: only the first layer.
    Every later one is taken again through the shadow model once a layer before it is
    quantized (_Shadow.hessian), so collecting theirs here would be thrown away."""
    first = next(iter(layers), None)
    return {first} if first in needs_data and "gptq" in layers[first][1].algorithms else set()


class _Shadow:
    """A copy of the float model whose layers take their quantized weights one by one
    (activations stay float, Brevitas's use_quant_activations=False), to collect the
    Hessians of sequential GPTQ."""

    def __init__(self, model):
        import copy

        self.model = copy.deepcopy(model)
        self.modules = dict(self.model.named_modules())
        self.changed = False

    def hessian(self, name: str, batches) -> np.ndarray:
        module = self.modules[name]
        return collect(self.model, {name: module}, batches, want_hessian={name},
                       stop_early=True)[name].hessian

    def load(self, name: str, layer: QuantLayer) -> None:
        module = self.modules[name]
        w = layer.qweight.dequantize()
        if layer.smooth is not None:  # the quantized layer divides its inputs by smooth
            w = w / layer.smooth[None, :]
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(w).reshape(module.weight.shape))
        self.changed = True


def _smoothquant(module, stats, config: QuantConfig) -> np.ndarray:
    """SmoothQuant's per-input-channel factor s = max|X|^a / max|W|^(1-a), expanded to K."""
    alpha = config.smoothquant_alpha
    w = weight_matrix(module)
    x_max = stats.channel_max
    if not isinstance(module, torch.nn.Linear):
        x_max = np.repeat(x_max, w.shape[1] // x_max.size)
    w_max = np.abs(w).max(axis=0)
    s = np.where((x_max > 0) & (w_max > 0),
                 np.power(np.maximum(x_max, 1e-12), alpha) /
                 np.power(np.maximum(w_max, 1e-12), 1 - alpha), 1.0)
    return np.clip(s, 1e-5, 1e5)


def _float_weight(module, config: QuantConfig, smooth) -> tuple[np.ndarray, np.ndarray | None]:
    """The (out, K) weight that gets quantized: times SmoothQuant's factor, N:M-masked; and
    the mask."""
    w = weight_matrix(module)
    if smooth is not None:
        w = w * smooth[None, :]
    mask = None
    if config.sparsity is not None:
        mask = config.sparsity.mask(w).astype(np.float64)
        w = w * mask
    return w, mask


def _quantize_layer(name, module, config: QuantConfig, stats, smooth) -> QuantLayer:
    w, mask = _float_weight(module, config, smooth)
    groups = getattr(module, "groups", 1)
    spec = config.weight
    if "gptq" in config.algorithms:
        qw = _grouped(w, groups, lambda wg, g: gptq(
            wg, stats.hessian[g], spec, None if mask is None else
            mask[g * (w.shape[0] // groups):(g + 1) * (w.shape[0] // groups)],
            damp=config.gptq_damp), spec)
    else:
        qw = quantize_weight(w, spec)
    act_amax = None
    if config.act is not None and not config.act.block:
        if smooth is None:
            if config.act.calibration == "minmax":
                act_amax = stats.amax
            elif config.act.calibration == "percentile":
                act_amax = stats.percentile_amax
            else:
                act_amax = calibrate_amax(stats.sample_values(), config.act)
        else:
            act_amax = _smoothed_amax(module, stats, smooth)
        if act_amax == 0:
            act_amax = 1.0
    cls = next(c for base, c in LAYER_CLASS.items() if isinstance(module, base))
    if config.act is not None and config.act.granularity == "token" and cls is not QuantLinear:
        raise ValueError(f"act: granularity 'token' (a scale per input row) applies to Linear "
                         f"layers; layer {name!r} is a {type(module).__name__} (exclude it with "
                         "an override, or use granularity 'tensor')")
    return cls(name, module, config, qw, act_amax, smooth)


def _smoothed_amax(module, stats, smooth) -> float:
    """Range of x / s from the per-channel maxima (SmoothQuant calibrates min-max)."""
    per_channel = smooth if isinstance(module, torch.nn.Linear) else \
        smooth.reshape(stats.channel_max.size, -1)[:, 0]
    return float((stats.channel_max / per_channel).max())


def _grouped(w: np.ndarray, groups: int, fn, spec):
    """Apply fn per conv group (rows of w), then join the QTensors (GPTQ's Hessians are per
    group)."""
    if groups == 1:
        return fn(w, 0)
    from .quantizer import QTensor

    per = w.shape[0] // groups
    parts = [fn(w[g * per:(g + 1) * per], g) for g in range(groups)]
    first = parts[0]
    scale = np.concatenate([p.scale for p in parts]) if first.scale.shape[0] > 1 else None
    if scale is None:  # per-tensor scales differ per group after GPTQ: requantize jointly
        return quantize_weight(np.concatenate([p.dequantize() for p in parts]), spec)
    block = None
    if first.block is not None:
        block = type(first.block)(np.concatenate([np.asarray(p.block.elements) for p in parts]),
                                  np.concatenate([np.asarray(p.block.scales) for p in parts]),
                                  first.block.tensor_scale)
    return QTensor(np.concatenate([p.codes for p in parts]), first.fmt, scale, first.group,
                   block, first.block_fmt)


def _bias_correct(reference, layers: dict, replaced: dict, names: list, batches) -> None:
    """Brevitas's bias correction: each layer's bias += mean(float output) - mean(quantized
    output), both on the same inputs, W_ref E[x] - Wq E[Q(x)]. The inputs are the reference
    model's (float activations; through the weights GPTQ settled on where it ran, else the
    FP32 model's), so the correction takes out the mean error of the weights and of the
    activation quantizer. W_ref is the float weight, or after GPTQ its result (Brevitas's
    GPTQ writes its quantized columns into the float weights)."""
    modules = dict(reference.named_modules())
    sums = {n: [0.0, 0.0, 0] for n in names}  # sum of float rows, of quantized rows, rows

    def add(name, x):
        module, quantized = modules[name], replaced[name].quantized_input(x)
        for part, q_part in zip(x.split(4), quantized.split(4)):  # im2col of a few images
            rows = input_rows(module, part)
            sums[name][0] = sums[name][0] + rows.sum(0).numpy()
            sums[name][1] = sums[name][1] + input_rows(module, q_part).sum(0).numpy()
            sums[name][2] += rows.shape[0]

    hooks = [modules[n].register_forward_pre_hook(lambda mod, args, n=n: add(n, args[0]))
             for n in names]
    try:
        with torch.no_grad():
            for batch in batches:
                reference(*batch)
    finally:
        for h in hooks:
            h.remove()
    for name in names:
        module, config = layers[name]
        layer = replaced[name]
        float_sum, quant_sum, rows = sums[name]
        mean, qmean = float_sum / max(rows, 1), quant_sum / max(rows, 1)  # (groups, K)
        if layer.smooth is not None:  # the float layer's inputs, in the smoothed space
            mean = mean / layer.smooth[None, :]
        wq = layer.qweight.dequantize()
        w_ref = wq if "gptq" in config.algorithms else _float_weight(module, config,
                                                                      layer.smooth)[0]
        groups = mean.shape[0]
        per = wq.shape[0] // groups
        rows_of = [slice(g * per, (g + 1) * per) for g in range(groups)]
        shift = np.concatenate([w_ref[r] @ mean[g] - wq[r] @ qmean[g]
                                for g, r in enumerate(rows_of)])
        bias = module.bias.detach().to(torch.float64) if module.bias is not None else \
            torch.zeros(wq.shape[0], dtype=torch.float64)
        layer.bias = bias + torch.from_numpy(shift)


def _set_module(model, name: str, new) -> None:
    parent = model
    *path, last = name.split(".")
    for part in path:
        parent = getattr(parent, part)
    setattr(parent, last, new)


def set_engine(model: torch.nn.Module, engine: str) -> torch.nn.Module:
    """Run every quantized layer of model on `engine` ("emulate" or "exact")."""
    if engine not in ENGINES:
        raise ValueError(f"engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    for module in model.modules():
        if isinstance(module, QuantLayer):
            module.engine = engine
    return model


def quantized_layers(model) -> dict:
    return {m.name: m for m in model.modules() if isinstance(m, QuantLayer)}


def layer_shapes(model, batch) -> list[dict]:
    """The matmul of every layer quantize_ would replace, per input sample: W (rows x k) @
    X (k x cols), with cols the output positions per sample (1 for a Linear on a vector, the
    output pixels of a Conv2d), measured with forward hooks on one batch.

    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(),
    ...                             torch.nn.Linear(4 * 6 * 6, 10))
    >>> [(s["name"], s["rows"], s["k"], s["cols"]) for s in
    ...  layer_shapes(model, (torch.zeros(2, 1, 8, 8),))]
    [('0', 4, 9, 36), ('2', 10, 144, 1)]
    """
    shapes, hooks = {}, []

    def hook(name):
        def record(module, _inputs, output):
            rows = module.weight.shape[0]
            per_sample = output.numel() // output.shape[0]
            shapes[name] = {"name": name, "kind": type(module).__name__, "rows": rows,
                            "k": int(np.prod(module.weight.shape[1:])),
                            "cols": per_sample // rows,
                            "groups": getattr(module, "groups", 1)}
        return record

    for name, module in model.named_modules():
        if isinstance(module, SUPPORTED):
            hooks.append(module.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            model(*batch)
    finally:
        for handle in hooks:
            handle.remove()
    return [shapes[name] for name, module in model.named_modules() if name in shapes]
