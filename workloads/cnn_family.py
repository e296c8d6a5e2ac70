"""A CNN family for the importance study: architecture and training as
hyperparameters, on three offline image datasets.

Datasets (each cut to at most ``MAX_TRAIN`` training and ``MAX_VALIDATION``
validation examples so that hundreds of models train in minutes on a CPU):
``digits`` (scikit-learn's 8x8 digits), ``mnist1d`` (40-sample 1-D signals;
the convolutions are 1-D) and ``shapes`` (16x16 images of six noisy shapes
that we generate from a seed); with TFDS data prepared, also ``mnist``,
``fashion_mnist`` and ``cifar10``. The model: ``num_conv_layers`` blocks of
conv-ReLU-2x max pooling, with ``filters`` doubling per block, then a dense
ReLU layer of ``dense_units`` with dropout, then the class head.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import numpy as np

from algoperf_lite.core.layers import Dropout

MAX_TRAIN = 1200
MAX_VALIDATION = 400
SHAPES_SEED = 0
SHAPES_SIZE = 16
SHAPES = ("square", "disk", "ring", "horizontal bar", "vertical bar", "cross")

# The study's space, in AlgoPerf's search-space format.
SPACE = {
    "num_conv_layers": {"feasible_points": [1, 2, 3]},
    "filters": {"feasible_points": [8, 16, 32]},
    "kernel_size": {"feasible_points": [3, 5]},
    "dense_units": {"feasible_points": [32, 64, 128]},
    "dropout_rate": {"min": 0.0, "max": 0.5, "scaling": "linear"},
    "learning_rate": {"min": 1e-4, "max": 1e-1, "scaling": "log"},
    "optimizer": {"feasible_points": ["sgd", "adam", "rmsprop", "nadamw"]},
    "epochs": {"feasible_points": [1, 2, 3, 4, 5, 6, 7, 8]},
    "batch_size": {"feasible_points": [16, 32, 64, 128]},
}
CATEGORICAL = ("optimizer",)


def _shape_image(kind: int, rng: np.random.Generator) -> np.ndarray:
    n = SHAPES_SIZE
    yy, xx = np.mgrid[:n, :n].astype(np.float32)
    cy, cx = rng.uniform(5, n - 5, size=2)
    r = rng.uniform(2.5, 4.5)
    name = SHAPES[kind]
    if name == "square":
        img = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
    elif name == "disk":
        img = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    elif name == "ring":
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        img = (d <= r) & (d >= r - 1.5)
    elif name == "horizontal bar":
        img = (np.abs(yy - cy) <= 1) & (np.abs(xx - cx) <= r + 1)
    elif name == "vertical bar":
        img = (np.abs(xx - cx) <= 1) & (np.abs(yy - cy) <= r + 1)
    else:  # cross
        img = ((np.abs(yy - cy) <= 0.8) | (np.abs(xx - cx) <= 0.8)) & (
            np.maximum(np.abs(yy - cy), np.abs(xx - cx)) <= r
        )
    contrast = rng.uniform(0.5, 1.0)
    return img * contrast + rng.normal(0, 0.35, (n, n))


@functools.cache
def _shapes(count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SHAPES_SEED)
    y = rng.integers(len(SHAPES), size=count).astype(np.int32)
    x = np.stack([_shape_image(k, rng) for k in y]).astype(np.float32)[..., None]
    return x, y


def _cut(train, validation):
    (xt, yt), (xv, yv) = train, validation
    return {
        "train": (xt[:MAX_TRAIN], yt[:MAX_TRAIN]),
        "validation": (xv[:MAX_VALIDATION], yv[:MAX_VALIDATION]),
    }


@functools.cache
def load(dataset: str) -> dict:
    """{"train": (x, y), "validation": (x, y)}; images are NHWC, signals NWC."""
    if dataset == "digits":
        from workloads.digits import load_splits

        splits = load_splits()
        return _cut(splits["train"], splits["validation"])
    if dataset == "mnist1d":
        from workloads.mnist1d import load_splits

        splits = {k: (x[..., None], y) for k, (x, y) in load_splits().items()}
        return _cut(splits["train"], splits["validation"])
    if dataset == "shapes":
        x, y = _shapes(MAX_TRAIN + MAX_VALIDATION)
        return _cut((x[:MAX_TRAIN], y[:MAX_TRAIN]), (x[MAX_TRAIN:], y[MAX_TRAIN:]))
    if dataset in TFDS_DATASETS:
        from workloads import WORKLOADS

        splits = WORKLOADS[TFDS_DATASETS[dataset]].load_splits()
        scaled = {k: (x.astype(np.float32) / 255.0, y) for k, (x, y) in splits.items()}
        return _cut(scaled["train"], scaled["validation"])
    known = ", ".join((*DATASETS, *TFDS_DATASETS))
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {known}")


DATASETS = ("digits", "mnist1d", "shapes")
# Real datasets, when prepared (algoperf-lite data prepare NAME): read through
# the TFDS workload that uses them.
TFDS_DATASETS = {
    "mnist": "mnist_mlp",
    "fashion_mnist": "fashion_mnist_cnn",
    "cifar10": "cifar10_vgg16",
}
NUM_CLASSES = {"digits": 10, "mnist1d": 10, "shapes": len(SHAPES)} | dict.fromkeys(
    TFDS_DATASETS, 10
)


class FamilyCNN(nn.Module):
    num_conv_layers: int
    filters: int
    kernel_size: int
    dense_units: int
    num_classes: int

    @nn.compact
    def __call__(self, x, *, train: bool, dropout_rate=0.0):
        spatial = x.ndim - 2
        for i in range(self.num_conv_layers):
            x = nn.Conv(self.filters * 2**i, (self.kernel_size,) * spatial, padding="SAME")(x)
            x = nn.relu(x)
            x = nn.max_pool(x, (2,) * spatial, strides=(2,) * spatial, padding="SAME")
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(self.dense_units)(x))
        x = Dropout()(x, dropout_rate, train=train)
        return nn.Dense(self.num_classes)(x)


def make_model(point: dict, dataset: str) -> FamilyCNN:
    return FamilyCNN(
        num_conv_layers=int(point["num_conv_layers"]),
        filters=int(point["filters"]),
        kernel_size=int(point["kernel_size"]),
        dense_units=int(point["dense_units"]),
        num_classes=NUM_CLASSES[dataset],
    )
