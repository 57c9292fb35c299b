"""Seeded training of the small study models, cached by a hash of everything it depends on
(so a rerun loads the weights in milliseconds, and a changed recipe retrains)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch


def train_classifier(name: str, build, x_train, y_train, recipe: dict, cache_dir=None):
    """Train build() on (x_train, y_train) with Adam + cross entropy, or load it from cache."""
    from sqhw.paths import cache_dir as default_cache

    key = hashlib.sha256(json.dumps({"name": name, "recipe": recipe,
                                     "torch": torch.__version__,
                                     "n": int(x_train.shape[0])}, sort_keys=True)
                         .encode()).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir else default_cache("models")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{key}.pt"
    torch.manual_seed(recipe["seed"])
    model = build()
    if path.is_file():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    generator = torch.Generator().manual_seed(recipe["seed"])
    opt = torch.optim.Adam(model.parameters(), lr=recipe["lr"],
                           weight_decay=recipe.get("weight_decay", 0.0))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, recipe["epochs"])
    model.train()
    for _ in range(recipe["epochs"]):
        order = torch.randperm(x_train.shape[0], generator=generator)
        for start in range(0, len(order), recipe["batch"]):
            idx = order[start:start + recipe["batch"]]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    # write-then-rename: an interrupted run never leaves a truncated weight file
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(fd)
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return model


def batches(x, size: int) -> list[tuple]:
    return [(x[i:i + size],) for i in range(0, x.shape[0], size)]
