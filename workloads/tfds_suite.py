"""Workloads on real datasets read through TensorFlow Datasets.

Data are read with ``tfds.data_source`` (random access to ArrayRecord files,
no TensorFlow needed) from the user's TFDS data directory (``TFDS_DATA_DIR``,
default ``~/tensorflow_datasets``). Nothing is downloaded while training: a
missing dataset stops with a one-line message naming
``algoperf-lite data prepare NAME``, which downloads and prepares it once.

Images stay ``uint8`` on the device (a quarter of float32's memory); models
scale them. Validation sets are carved from each training split with a fixed
seed, since these datasets ship only train and test. Text workloads are
byte-level, like ``char_lm_transformer``; AlgoPerf's LM1B workload uses
subwords, so ours is a smaller relative (our interpretation).

Targets here are provisional (see ``targets.json``): our procedure needs the
data, so ``scripts/set_targets.py --workload NAME`` should be rerun where the
data are prepared.
"""

from __future__ import annotations

import functools
import logging

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from algoperf_lite.core import losses
from algoperf_lite.core.errors import UserError
from algoperf_lite.core.layers import Dropout
from algoperf_lite.core.spec import Workload
from workloads import char_lm

BYTES = 256  # the TFDS text workloads model every byte

SPLIT_SEED = 0
TEXT_SEQ_LEN = 128


# ---------------------------------------------------------------------------
# Reading.
# ---------------------------------------------------------------------------

# Workload name -> TFDS dataset name (what ``data prepare`` downloads).
DATASETS: dict[str, str] = {}


def read_split(dataset: str, split: str, limit: int | None = None) -> list[dict]:
    """Examples of one split as NumPy dicts, through ``tfds.data_source``."""
    import tensorflow_datasets as tfds

    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)  # TFDS warns about absent metadata before failing
    try:
        source = tfds.data_source(dataset, split=split, download=False)
        count = len(source) if limit is None else min(limit, len(source))
        return [source[i] for i in range(count)]
    except (FileNotFoundError, AssertionError, KeyError, RuntimeError, ValueError) as e:
        raise UserError(
            f"TFDS dataset '{dataset}' ({split}) is not prepared as ArrayRecord "
            f"({type(e).__name__}); run 'algoperf-lite data prepare {dataset}' once "
            "(needs internet)"
        ) from None
    finally:
        absl_logger.setLevel(level)


def _images(dataset: str, num_validation: int):
    def load():
        def arrays(examples):
            x = np.stack([np.asarray(e["image"], np.uint8) for e in examples])
            y = np.asarray([int(e["label"]) for e in examples], np.int32)
            return x, y

        x, y = arrays(read_split(dataset, "train"))
        order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
        held_out = min(num_validation, len(x) // 10)  # small (mock) data keep a train split
        val, train = order[:held_out], order[held_out:]
        return {
            "train": (x[train], y[train]),
            "validation": (x[val], y[val]),
            "test": arrays(read_split(dataset, "test")),
        }

    return functools.cache(load)


def _text(dataset: str, splits: dict[str, tuple[str, int | None]]):
    """``splits``: our split -> (TFDS split, first N examples or all)."""

    def load():
        out = {}
        for name, (split, limit) in splits.items():
            texts = [e["text"] for e in read_split(dataset, split, limit)]
            data = b"\n".join(t.encode() if isinstance(t, str) else bytes(t) for t in texts)
            out[name] = char_lm.next_byte_pairs(char_lm.windows(data, TEXT_SEQ_LEN, BYTES))
        return out

    return functools.cache(load)


# ---------------------------------------------------------------------------
# Models.
# ---------------------------------------------------------------------------


def _scaled(x, mean, std):
    return (x.astype(jnp.float32) / 255.0 - mean) / std


class LinearClassifier(nn.Module):
    @nn.compact
    def __call__(self, x, *, train: bool, dropout_rate=0.0):
        del train, dropout_rate
        x = _scaled(x, 0.1307, 0.3081).reshape((x.shape[0], -1))
        return nn.Dense(10)(x)


class MNISTMLP(nn.Module):
    """784-1000-1000-10 ReLU, the hypergradient paper's MLP."""

    @nn.compact
    def __call__(self, x, *, train: bool, dropout_rate=0.0):
        x = _scaled(x, 0.1307, 0.3081).reshape((x.shape[0], -1))
        for _ in range(2):
            x = Dropout()(nn.relu(nn.Dense(1000)(x)), dropout_rate, train=train)
        return nn.Dense(10)(x)


class SmallCNN(nn.Module):
    """Two conv-pool stages (32, 64 filters), a 128-unit dense layer, dropout."""

    @nn.compact
    def __call__(self, x, *, train: bool, dropout_rate=0.0):
        x = _scaled(x, 0.2860, 0.3530)
        for features in (32, 64):
            x = nn.relu(nn.Conv(features, (3, 3))(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = nn.relu(nn.Dense(128)(x.reshape((x.shape[0], -1))))
        return nn.Dense(10)(Dropout()(x, dropout_rate, train=train))


CIFAR_MEAN = jnp.array([0.4914, 0.4822, 0.4465])
CIFAR_STD = jnp.array([0.2470, 0.2435, 0.2616])


def _bn(train):
    return nn.BatchNorm(use_running_average=not train, momentum=0.9)


class VGG16(nn.Module):
    """VGG-16 with batch norm, CIFAR-sized (13 conv layers, one 512-unit classifier)."""

    stages: tuple = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))

    @nn.compact
    def __call__(self, x, *, train: bool, dropout_rate=0.0):
        x = _scaled(x, CIFAR_MEAN, CIFAR_STD)
        for features, convs in self.stages:
            for _ in range(convs):
                x = nn.relu(_bn(train)(nn.Conv(features, (3, 3), use_bias=False)(x)))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        x = Dropout()(nn.relu(nn.Dense(512)(x)), dropout_rate, train=train)
        return nn.Dense(10)(x)


class ResidualBlock(nn.Module):
    features: int
    stride: int

    @nn.compact
    def __call__(self, x, train):
        y = nn.Conv(self.features, (3, 3), (self.stride,) * 2, use_bias=False)(x)
        y = nn.relu(_bn(train)(y))
        y = _bn(train)(nn.Conv(self.features, (3, 3), use_bias=False)(y))
        if x.shape != y.shape:
            x = nn.Conv(self.features, (1, 1), (self.stride,) * 2, use_bias=False)(x)
            x = _bn(train)(x)
        return nn.relu(x + y)


class ResNet18(nn.Module):
    """ResNet-18 for 32x32 images (3x3 stem, no max-pool), as in AlgoPerf's CIFAR workload."""

    @nn.compact
    def __call__(self, x, *, train: bool, dropout_rate=0.0):
        x = _scaled(x, CIFAR_MEAN, CIFAR_STD)
        x = nn.relu(_bn(train)(nn.Conv(64, (3, 3), use_bias=False)(x)))
        for i, features in enumerate((64, 128, 256, 512)):
            for j in range(2):
                x = ResidualBlock(features, 2 if (i > 0 and j == 0) else 1)(x, train)
        x = Dropout()(x.mean(axis=(1, 2)), dropout_rate, train=train)
        return nn.Dense(10)(x)


def crop_and_flip(key, images, pad: int = 4):
    """Random ``pad``-pixel translation (zero padding) and horizontal flip per image."""
    crop_key, flip_key = jax.random.split(key)
    n, h, w, _ = images.shape
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    offsets = jax.random.randint(crop_key, (n, 2), 0, 2 * pad + 1)

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, image.shape[-1]))

    images = jax.vmap(crop)(padded, offsets)
    flip = jax.random.bernoulli(flip_key, 0.5, (n, 1, 1, 1))
    return jnp.where(flip, images[:, :, ::-1], images)


# ---------------------------------------------------------------------------
# Declarations.
# ---------------------------------------------------------------------------


PROVISIONAL = (
    "provisional: a round value near published results for similar models, not set by "
    "our procedure; rerun scripts/set_targets.py --workload NAME where the data are prepared"
)


def _declare(dataset, target, **fields):
    DATASETS[fields["name"]] = dataset
    return Workload(
        offline=False,
        validation_target=target,
        test_target=target,
        provenance={"procedure": PROVISIONAL, "provisional": True},
        **fields,
    )


MNIST_LOGREG = _declare(
    "mnist",
    0.27,
    name="mnist_logreg",
    description="logistic regression on MNIST (TFDS), the hypergradient paper's problem 1",
    make_model=LinearClassifier,
    load_splits=_images("mnist", 5000),
    batch_size=128,
    step_hint=4300,  # 10 epochs of 55,000
    eval_every=430,
    metric="loss",
    higher_is_better=False,
    input_spec=((28, 28, 1), "uint8"),
)
MNIST_MLP = _declare(
    "mnist",
    0.98,
    name="mnist_mlp",
    description="MLP 784-1000-1000-10 ReLU on MNIST (TFDS), the hypergradient paper's MLP",
    make_model=MNISTMLP,
    load_splits=MNIST_LOGREG.load_splits,
    batch_size=128,
    step_hint=8600,  # 20 epochs
    eval_every=430,
    input_spec=((28, 28, 1), "uint8"),
)
FASHION_MNIST_CNN = _declare(
    "fashion_mnist",
    0.91,
    name="fashion_mnist_cnn",
    description="2-conv CNN on Fashion-MNIST (TFDS)",
    make_model=SmallCNN,
    load_splits=_images("fashion_mnist", 5000),
    batch_size=128,
    step_hint=8600,  # 20 epochs
    eval_every=430,
    input_spec=((28, 28, 1), "uint8"),
)
CIFAR10_VGG16 = _declare(
    "cifar10",
    0.9,
    name="cifar10_vgg16",
    description="VGG-16 with batch norm on CIFAR-10 (TFDS), crop+flip augmentation",
    make_model=VGG16,
    load_splits=_images("cifar10", 5000),
    batch_size=128,
    step_hint=17600,  # 50 epochs of 45,000
    eval_every=880,
    augment=crop_and_flip,
    input_spec=((32, 32, 3), "uint8"),
)
CIFAR10_RESNET18 = _declare(
    "cifar10",
    0.92,
    name="cifar10_resnet18",
    description="ResNet-18 on CIFAR-10 (TFDS), crop+flip augmentation (AlgoPerf's dev workload)",
    make_model=ResNet18,
    load_splits=CIFAR10_VGG16.load_splits,
    batch_size=128,
    step_hint=17600,
    eval_every=880,
    augment=crop_and_flip,
    input_spec=((32, 32, 3), "uint8"),
)
_LM = dict(
    metric="loss",
    higher_is_better=False,
    loss_fn=losses.sequence_cross_entropy,
    metrics_fn=losses.sequence_metrics,
    eval_batch_size=128,
    input_spec=((TEXT_SEQ_LEN,), "int32"),
)
TINY_SHAKESPEARE = _declare(
    "tiny_shakespeare",
    1.5,
    name="tiny_shakespeare_transformer",
    description="4-layer byte-level transformer LM on Tiny Shakespeare (TFDS)",
    make_model=functools.partial(
        char_lm.TransformerLM,
        vocab=BYTES,
        width=128,
        depth=4,
        num_heads=4,
        max_len=TEXT_SEQ_LEN,
    ),
    load_splits=_text(
        "tiny_shakespeare",
        {"train": ("train", None), "validation": ("validation", None), "test": ("test", None)},
    ),
    batch_size=64,
    step_hint=5000,
    eval_every=250,
    **_LM,
)
LM1B = _declare(
    "lm1b",
    1.4,
    name="lm1b_transformer",
    description="small byte-level transformer LM on 200k LM1B sentences (TFDS)",
    make_model=functools.partial(
        char_lm.TransformerLM,
        vocab=BYTES,
        width=256,
        depth=4,
        num_heads=8,
        max_len=TEXT_SEQ_LEN,
    ),
    load_splits=_text(
        "lm1b",
        {
            "train": ("train", 200_000),
            "validation": ("test[:5000]", None),
            "test": ("test[5000:10000]", None),
        },
    ),
    batch_size=64,
    step_hint=20000,
    eval_every=1000,
    **_LM,
)

WORKLOADS = (
    MNIST_LOGREG,
    MNIST_MLP,
    FASHION_MNIST_CNN,
    CIFAR10_VGG16,
    CIFAR10_RESNET18,
    TINY_SHAKESPEARE,
    LM1B,
)
