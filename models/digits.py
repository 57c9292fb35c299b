"""digits: a small CNN on scikit-learn's bundled 8x8 digits (1797 images), trained here
(seeded, cached, seconds). Metric: test accuracy on a fixed held-out 30%."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sqhw.ptq.task import Accuracy, Task

from ._train import batches, train_classifier

RECIPE = {"seed": 0, "epochs": 40, "lr": 3e-3, "batch": 64, "weight_decay": 1e-4}


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def data():
    """(x_train, y_train, x_test, y_test): images scaled to [0, 1], a fixed 70/30 split."""
    from sqhw.ptq.data import digits_images
    from sklearn.datasets import load_digits

    x = torch.from_numpy((digits_images() / 16.0).astype(np.float32)).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(load_digits().target.astype(np.int64))
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(1234))
    cut = int(0.7 * x.shape[0])
    train, test = order[:cut], order[cut:]
    return x[train], y[train], x[test], y[test]


def load(cache_dir=None) -> Task:
    x_train, y_train, x_test, y_test = data()
    model = train_classifier("digits", DigitsCNN, x_train, y_train, RECIPE, cache_dir)
    evaluation = batches(x_test, 256)
    labels = [y_test[i:i + 256] for i in range(0, y_test.shape[0], 256)]
    return Task("digits", model, calibration=batches(x_train[:256], 128),
                evaluation=evaluation, metric=Accuracy(labels), train=(x_train, y_train))
