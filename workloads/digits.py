"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download),
split with a fixed seed into 1,197 training, 300 validation and 300 test
images; pixels scaled to [0, 1]."""

import functools

import flax.linen as nn
import numpy as np

from algoperf_lite.core.layers import Dropout
from algoperf_lite.core.spec import Workload

SPLIT_SEED = 0
NUM_HELD_OUT = 300


@functools.cache
def load_splits():
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., None]
    y = data.target.astype(np.int32)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    val, test, train = np.split(order, [NUM_HELD_OUT, 2 * NUM_HELD_OUT])
    return {
        "train": (x[train], y[train]),
        "validation": (x[val], y[val]),
        "test": (x[test], y[test]),
    }


class CNN2DModel(nn.Module):
    """Conv-BN-ReLU x2, 2x2 average pooling, a dense layer with dropout, a head."""

    num_classes: int = 10

    @nn.compact
    def __call__(self, x, *, train: bool, dropout_rate=0.0):
        for features in (16, 32):
            x = nn.Conv(features, (3, 3), padding="SAME")(x)
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
            x = nn.relu(x)
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(64)(x))
        x = Dropout()(x, dropout_rate, train=train)
        return nn.Dense(self.num_classes)(x)


CNN = Workload(
    name="digits_cnn",
    description="2-D CNN with batch norm on scikit-learn's 8x8 digits (bundled)",
    make_model=CNN2DModel,
    load_splits=load_splits,
    # Small batches and a short target-setting horizon (about one epoch; the budget is
    # 4/3 of it), so that the model is still learning there. Trained to two epochs or
    # more, its validation loss on 300 images is a handful of misclassified ones: it
    # varied 5x across seeds and 4/3 of the steps no longer helped.
    batch_size=16,
    step_hint=80,
    eval_every=8,
    # Accuracy saturates (99.7-100% of 300 images), so the target is on the loss.
    metric="loss",
    higher_is_better=False,
)
