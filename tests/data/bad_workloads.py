"""Workload declarations that are accepted and fail when their data are loaded."""

import flax.linen as nn
import numpy as np

from algoperf_lite import Workload


class Linear(nn.Module):
    @nn.compact
    def __call__(self, x, *, train, dropout_rate=0.0):
        return nn.Dense(2)(x)


def _data(n):
    x = np.zeros((n, 4), np.float32)
    return x, np.zeros(n, np.int32)


def no_test_split():
    return {"train": _data(64), "validation": _data(16)}


def broken():
    raise OSError("the data server is down")


COMMON = dict(make_model=Linear, batch_size=8, step_hint=10, eval_every=5, description="bad")
NO_TEST = Workload(name="no_test", load_splits=no_test_split, **COMMON)
RAISES = Workload(name="raises", load_splits=broken, **COMMON)
