"""A workload declared with batch_size=0."""

import flax.linen as nn
import numpy as np

from algoperf_lite import Workload


def load_splits():
    x = np.zeros((64, 4), np.float32)
    return {s: (x, np.zeros(64, np.int32)) for s in ("train", "validation", "test")}


BAD = Workload(
    name="zero_batch_size",
    description="bad",
    make_model=lambda: nn.Dense(2),
    load_splits=load_splits,
    batch_size=0,
    step_hint=10,
    eval_every=5,
)
