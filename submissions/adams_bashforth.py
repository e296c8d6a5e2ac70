"""Gradient flow integrated by the 3rd-order Adams-Bashforth method: one
gradient per step plus the two previous ones (lower orders while they fill).

Our interpretation of Ma et al. (2024); see ``algoperf_lite.gradient_flow``.
Step size: the scheduled learning rate; L2 weight decay is part of the field.
"""

import optax

from algoperf_lite import gradient_flow
from algoperf_lite.schedules import warmup_cosine
from algoperf_lite.transforms import keep_dtype

ORDER = 3
HPARAMS = {
    "learning_rate": 0.05,
    "warmup_factor": 0.05,
    "weight_decay": 0.0,
    "label_smoothing": 0.0,
    "dropout_rate": 0.0,
}


def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformationExtraArgs:
    schedule = warmup_cosine(hparams["learning_rate"], hparams["warmup_factor"], step_hint)
    return keep_dtype(gradient_flow.adams_bashforth(ORDER, schedule, hparams["weight_decay"]))
