"""AdamW (no Nesterov term) with AlgoPerf's warmup-then-cosine schedule.

The same hyperparameters and weight-decay placement as ``nadamw``: decoupled
weight decay on every parameter, multiplied by the scheduled rate. A baseline.
"""

import optax

from algoperf_lite.optim.nadam import EPSILON
from algoperf_lite.optim.schedules import warmup_cosine
from algoperf_lite.optim.transforms import keep_dtype
from submissions.nadamw import HPARAMS  # same names and defaults

HPARAMS = dict(HPARAMS)


def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformation:
    schedule = warmup_cosine(hparams["learning_rate"], hparams["warmup_factor"], step_hint)
    return keep_dtype(
        optax.chain(
            optax.scale_by_adam(
                b1=1.0 - hparams["one_minus_beta1"], b2=hparams["beta2"], eps=EPSILON
            ),
            optax.add_decayed_weights(hparams["weight_decay"]),
            optax.scale_by_learning_rate(schedule),
        )
    )
