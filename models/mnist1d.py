"""mnist1d: a 1-D CNN on MNIST-1D (Greydanus 2020), whose data `mnist1d.data.make_dataset`
generates offline (never `get_dataset`, which downloads). Harder than digits: formats
separate well above 4 bits. Metric: accuracy on the 1000 test sequences."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sqhw.ptq.task import Accuracy, Task

from ._train import batches, train_classifier

RECIPE = {"seed": 0, "epochs": 60, "lr": 2e-3, "batch": 100, "weight_decay": 1e-4}


class MNIST1DCNN(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        self.conv1 = nn.Conv1d(1, width, 5, padding=2)
        self.conv2 = nn.Conv1d(width, width, 3, padding=1, stride=2)
        self.conv3 = nn.Conv1d(width, width, 3, padding=1, stride=2)
        self.fc = nn.Linear(width * 10, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv3(x))
        return self.fc(x.flatten(1))


def data():
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:
        raise RuntimeError("the mnist1d model needs the package mnist1d; install sqhw's data "
                           "extra: pip install 'sqhw[data]'") from err
    args = get_dataset_args()
    d = make_dataset(args)  # generated from the package's templates, seeded (args.seed = 42)
    f = lambda a, t: torch.from_numpy(np.asarray(a).astype(t))
    return (f(d["x"], np.float32)[:, None], f(d["y"], np.int64),
            f(d["x_test"], np.float32)[:, None], f(d["y_test"], np.int64))


def load(cache_dir=None) -> Task:
    x_train, y_train, x_test, y_test = data()
    model = train_classifier("mnist1d", MNIST1DCNN, x_train, y_train, RECIPE, cache_dir)
    labels = [y_test[i:i + 250] for i in range(0, y_test.shape[0], 250)]
    return Task("mnist1d", model, calibration=batches(x_train[:512], 128),
                evaluation=batches(x_test, 250), metric=Accuracy(labels), train=(x_train, y_train))
