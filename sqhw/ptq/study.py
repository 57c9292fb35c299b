"""The PTQ study: one model, a list of formats (dense and N:M), sqhw's engine and the peers,
scored by one metric; every row cached per (model, row config, sqhw version and a digest of
the code that computes a row: a changed quantizer or model never returns a stale score).

Row configuration for a format name: element formats quantize weights per output channel
and activations per tensor (min-max); block formats (MX, NVFP4) use their own block scales
for both. `weights_only` leaves activations in FP32.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import time
from pathlib import Path

from .. import __version__
from ..formats import BlockScaled, parse
from ..paths import write_text
from ..sparsity import NM
from .config import ACT_PERCENTILE, QuantConfig, QuantSpec
from .peers import PEERS, installed, missing_row, peer_formats, row_count


def config_for(fmt_name: str, sparsity: NM | None, weights_only: bool,
               algorithms: tuple[str, ...], calibration: str = "minmax",
               act_granularity: str = "tensor", act_name: str | None = None,
               percentile: float = ACT_PERCENTILE, amax_code: str = "max") -> QuantConfig:
    """`act_name`: the activations' format when it differs from the weights' (a sweep's
    separate axes); None: both in `fmt_name`. `amax_code`: QuantSpec's, for weights and
    activations alike (block formats keep their own)."""
    try:
        fmt = parse(fmt_name)
        act_fmt = fmt if act_name is None else parse(act_name)
    except ValueError as err:
        raise ValueError(f"--formats: {err}") from None
    block = isinstance(fmt, BlockScaled)
    weight = QuantSpec(fmt, granularity="tensor" if block else "channel",
                       amax_code="max" if block else amax_code)
    act_block = isinstance(act_fmt, BlockScaled)
    act = None if weights_only else QuantSpec(
        act_fmt, calibration="minmax" if act_block else calibration,
        percentile=percentile, granularity="tensor" if act_block else act_granularity,
        amax_code="max" if act_block else amax_code)
    if weights_only:
        algorithms = tuple(a for a in algorithms if a != "smoothquant")
    if sparsity is None:  # the N:M fine-tune only applies to the sparse rows
        algorithms = tuple(a for a in algorithms if a != "srste")
    return QuantConfig(weight=weight, act=act, sparsity=sparsity, algorithms=algorithms)


def model_key(model: str) -> str:
    """The model's name, or for an ONNX file its content hash (a changed file reruns)."""
    path = Path(model)
    if path.suffix == ".onnx" and path.is_file():
        return f"onnx:{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
    return model


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """A hash of the source that decides a row's score: sqhw.ptq, the formats, the exact
    reference, the sparsity helpers and the models."""
    import sqhw
    import sqhw.models

    root = Path(sqhw.__file__).parent
    folders = [root / "ptq", root / "formats", root / "ref", root / "sparsity",
               Path(sqhw.models.__file__).parent]
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def row_key(model: str, row: dict) -> str:
    text = json.dumps({"model": model_key(model), "row": row, "sqhw": __version__,
                       "code": code_digest()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class Cache:
    """One JSON file per row, written to a temporary file and renamed: an interrupted run
    leaves whole rows or nothing."""

    def __init__(self, folder: Path | None):
        self.folder = folder

    def get(self, key: str):
        if self.folder is None:
            return None
        path = self.folder / f"{key}.json"
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put(self, key: str, row: dict) -> None:
        if self.folder is None:
            return
        write_text(self.folder / f"{key}.json", json.dumps(row))


def load_task(model: str):
    if model.endswith(".onnx"):
        from .onnx_model import load_onnx

        return load_onnx(model)
    from .. import models

    return models.load(model)


def plan(formats: list[str], sparsities: list[NM | None], weights_only: bool,
         algorithms: tuple[str, ...], engine: str, calibration: str = "minmax",
         act_granularity: str = "tensor",
         act_name: str | None = None,
         percentile: float = ACT_PERCENTILE,
         amax_code: str = "max") -> list[tuple[dict, QuantConfig]]:
    """(row description, config) of every sqhw row; bad names refused before any work.
    `act_name`: see config_for; a row whose activation format differs from its weight
    format says so in `act_format` (the study's own rows never have that key)."""
    rows = []
    for name in formats:
        for nm in sparsities:
            cfg = config_for(name, nm, weights_only, algorithms, calibration, act_granularity,
                             act_name, percentile, amax_code)
            act = {} if cfg.act is None or cfg.act.fmt == cfg.weight.fmt else \
                {"act_format": cfg.act.fmt.name}
            rows.append(({"engine": "sqhw", "format": cfg.weight.fmt.name, **act,
                          "sparsity": "dense" if nm is None else str(nm),
                          "algo": "+".join(cfg.algorithms) or "none",
                          "weights_only": weights_only, "sqhw_engine": engine,
                          "config": cfg.label(),
                          **({"srste_epochs": SRSTE_EPOCHS} if "srste" in cfg.algorithms
                             else {})}, cfg))
    return rows


def run(model: str, formats: list[str], sparsity: NM | None = None, weights_only=False,
        algorithms: tuple[str, ...] = (), peers: tuple[str, ...] = (), engine="exact",
        cache_dir: Path | None = None, progress=None, calibration: str = "minmax",
        act_granularity: str = "tensor", percentile: float = ACT_PERCENTILE,
        amax_code: str = "max") -> dict:
    """The study's result: {"model", "metric", "fp32", "rows": [...]} (see sqhw ptq)."""
    for peer in peers:
        if peer not in PEERS:
            raise ValueError(f"--peers: unknown peer {peer!r}; known: {', '.join(PEERS)}")
    sparsities = [None] if sparsity is None else [None, sparsity]
    rows_plan = plan(formats, sparsities, weights_only, algorithms, engine, calibration,
                     act_granularity, percentile=percentile, amax_code=amax_code)
    cache = Cache(cache_dir)
    task = load_task(model)
    _check_token_layers(task, act_granularity)
    fp32 = _fp32(model, task, cache)
    total = len(rows_plan) + sum(row_count(p, formats) for p in peers)
    bar = progress(total) if progress else None
    rows = []
    tuned = {}  # the SR-STE fine-tune depends only on the N:M pattern: once per study
    for desc, cfg in rows_plan:
        rows.append(_sqhw_row(model, task, desc, cfg, engine, cache, tuned))
        if bar:
            bar.update(1)
    for peer in peers:
        if not installed(peer):
            rows.append(missing_row(peer))
            if bar:
                bar.update(row_count(peer, formats))
            continue
        runs = peer_formats(peer, formats)
        if not runs:
            continue
        key = row_key(model, {"peer": peer, "formats": runs})
        cached = cache.get(key)
        if cached is None:
            try:
                cached = _peer_rows(peer, task, lambda: bar.update(1) if bar else None, runs)
                cache.put(key, cached)
            except Exception as err:  # a peer's failure costs its rows, never the study
                cached = [{"engine": peer, "format": "-", "sparsity": "dense", "algo": "-",
                           "score": None, "status": "error",
                           "error": f"{type(err).__name__}: {str(err)[:300]}"}]
        elif bar:
            bar.update(row_count(peer, formats))
        rows.extend(cached)
    if bar:
        bar.close()
    return {"model": task.name, "metric": task.metric.name, "fp32": fp32["score"],
            "sqhw_version": __version__, "layers": _layers(task), "rows": rows}


def _layers(task) -> list[dict]:
    """The quantized layers' matmul shapes per sample (sqhw build's `from_ptq` reads them)."""
    from .api import layer_shapes

    if not task.calibration:
        return []
    batch = task.calibration[0]
    return layer_shapes(task.model, batch if isinstance(batch, (tuple, list)) else (batch,))


def run_point(model: str, weight: str, act: str | None = None, sparsity: NM | None = None,
              weights_only=False, algorithms: tuple[str, ...] = (), engine="exact",
              cache_dir: Path | None = None, calibration: str = "minmax",
              act_granularity: str = "tensor") -> dict:
    """The study's result with the one sqhw row of weights in `weight`, activations in `act`
    (default: `weight`) and the N:M pattern `sparsity` (None: dense): what a sweep point
    evaluates. The row is the one `run` gives for the same choice (and shares its cache)."""
    [(desc, cfg)] = plan([weight], [sparsity], weights_only, algorithms, engine, calibration,
                         act_granularity, act_name=act)
    cache = Cache(cache_dir)
    task = load_task(model)
    _check_token_layers(task, act_granularity)
    fp32 = _fp32(model, task, cache)
    row = _sqhw_row(model, task, desc, cfg, engine, cache, {})
    return {"model": task.name, "metric": task.metric.name, "fp32": fp32["score"],
            "sqhw_version": __version__, "layers": _layers(task), "rows": [row]}


def _check_token_layers(task, act_granularity: str) -> None:
    """Per-token activation scales apply to Linear layers: refuse a model with convs before
    any row runs."""
    import torch

    if act_granularity != "token":
        return
    convs = [name for name, m in task.model.named_modules()
             if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))]
    if convs:
        raise ValueError(f"--act-granularity token: a scale per input row applies to Linear "
                         f"layers; {task.name} has {len(convs)} conv layers ({convs[0]}, ...); "
                         "use --act-granularity tensor")


def _fp32(model: str, task, cache: Cache) -> dict:
    key = row_key(model, {"fp32": True})
    fp32 = cache.get(key)
    if fp32 is None:
        fp32 = task.fp32()
        cache.put(key, fp32)
    return fp32


def _sqhw_row(model: str, task, desc: dict, cfg: QuantConfig, engine: str, cache: Cache,
              tuned: dict) -> dict:
    """One sqhw row (cached); `tuned` holds the SR-STE fine-tuned models by N:M pattern."""
    from .api import quantize_, set_engine

    key = row_key(model, desc)
    row = cache.get(key)
    if row is not None:
        return row
    start = time.perf_counter()
    try:
        base = task.model
        if "srste" in cfg.algorithms:
            base = tuned.get(cfg.sparsity) or _finetuned(task, cfg)
            tuned[cfg.sparsity] = base
            cfg = dataclasses.replace(
                cfg, algorithms=tuple(a for a in cfg.algorithms if a != "srste"))
        quantized = quantize_(copy.deepcopy(base), cfg, task.calibration)
        set_engine(quantized, engine)
        result = task.evaluate(quantized)
        row = {**desc, "status": "ok", **result,
               "seconds": round(time.perf_counter() - start, 2)}
    except ValueError as err:  # e.g. a layer K that N:M cannot fit
        row = {**desc, "status": "error", "score": None, "error": str(err)}
    cache.put(key, row)
    return row


def _finetuned(task, cfg: QuantConfig):
    from .api import targets
    from .finetune import srste_finetune

    if task.train is None:
        raise ValueError(f"--algo srste: the {task.name} model has no training data here "
                         "(fine-tuning needs labelled inputs)")
    return srste_finetune(task.model, cfg.sparsity, task.train, list(targets(task.model, cfg)),
                          epochs=SRSTE_EPOCHS)


SRSTE_EPOCHS = 20


def _peer_rows(peer: str, task, tick, formats) -> list[dict]:
    from . import peers as p

    return {"onnxruntime": p.onnxruntime_rows, "brevitas": p.brevitas_rows,
            "torchao": p.torchao_rows}[peer](task, tick, formats)
