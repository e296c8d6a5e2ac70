r"""SGD with heavy-ball or Nesterov momentum and AlgoPerf's schedule. A baseline.

L2 weight decay is added to the gradient first (as in AlgoPerf's momentum
baseline); then with buffer :math:`b_t = \mu b_{t-1} + g_t`:
heavy ball steps along :math:`b_t`, Nesterov along :math:`g_t + \mu b_t`.
``nesterov`` is a 0/1 hyperparameter (a number, so that it can be traced).
"""

import optax

from algoperf_lite.optim.momentum import scale_by_momentum
from algoperf_lite.optim.schedules import warmup_cosine
from algoperf_lite.optim.transforms import keep_dtype

HPARAMS = {
    "learning_rate": 0.05,
    "momentum": 0.9,
    "nesterov": 1.0,
    "weight_decay": 5e-4,
    "warmup_factor": 0.05,
    "label_smoothing": 0.0,
    "dropout_rate": 0.0,
}


def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformation:
    schedule = warmup_cosine(hparams["learning_rate"], hparams["warmup_factor"], step_hint)
    return keep_dtype(
        optax.chain(
            optax.add_decayed_weights(hparams["weight_decay"]),
            scale_by_momentum(hparams["momentum"], hparams["nesterov"]),
            optax.scale_by_learning_rate(schedule),
        )
    )
