"""Multinomial logistic regression on scikit-learn's bundled 8x8 digits: the
first problem of the hypergradient paper (Baydin et al., 2018), which used
MNIST; the digits are its offline stand-in. Same splits as ``digits_cnn``."""

import flax.linen as nn

from algoperf_lite.core.spec import Workload
from workloads.digits import load_splits


class LogisticRegression(nn.Module):
    num_classes: int = 10
    init_scale: float = 0.0  # weights start at zero unless a variant says otherwise

    @nn.compact
    def __call__(self, x, *, train: bool, dropout_rate=0.0):
        del train, dropout_rate  # a linear model: nothing to drop
        x = x.reshape((x.shape[0], -1))
        init = nn.initializers.normal(self.init_scale) if self.init_scale else nn.initializers.zeros
        return nn.Dense(self.num_classes, kernel_init=init)(x)


LOGREG = Workload(
    name="digits_logreg",
    description="logistic regression (64 pixels -> 10 classes) on scikit-learn's 8x8 digits",
    make_model=LogisticRegression,
    load_splits=load_splits,
    batch_size=128,
    step_hint=800,  # the target-setting horizon; the budget is 4/3 of it
    eval_every=40,
    metric="loss",
    higher_is_better=False,
)
