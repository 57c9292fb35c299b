"""The reference models of the PTQ study (code only; weights come from installed packages
or are trained here, seeded and cached; nothing is downloaded at run time).

Installed as `sqhw.models` (pyproject maps the top-level models/ folder into the package).
"""

from __future__ import annotations


import importlib

#: model name -> module in this package; each module has `load(cache_dir) -> sqhw.ptq.task.Task`
MODELS = {
    "digits": "digits",
    "mnist1d": "mnist1d",
    "efficientnet_lite0": "efficientnet_lite0",
    "minilm": "minilm",
}


def load(name: str, cache_dir=None):
    """The Task of a built-in model by name (see MODELS)."""
    if name not in MODELS:
        raise ValueError(f"--model: unknown model {name!r}; built-in models: "
                         f"{', '.join(MODELS)} (or a path to a .onnx file)")
    module = importlib.import_module(f"{__name__}.{MODELS[name]}")
    return module.load(cache_dir)
