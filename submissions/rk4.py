"""Gradient flow integrated by classical Runge-Kutta (RK4): four gradients per step.

Our interpretation of Ma et al. (2024); see ``algoperf_lite.gradient_flow``.
Step size: the scheduled learning rate (AlgoPerf's warmup and cosine); L2
weight decay is part of the integrated field.
"""

import optax

from algoperf_lite import gradient_flow
from algoperf_lite.schedules import warmup_cosine
from algoperf_lite.transforms import keep_dtype

GRAD_EVALS_PER_STEP = 4
HPARAMS = {
    "learning_rate": 0.05,
    "warmup_factor": 0.05,
    "weight_decay": 0.0,
    "label_smoothing": 0.0,
    "dropout_rate": 0.0,
}


def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformationExtraArgs:
    schedule = warmup_cosine(hparams["learning_rate"], hparams["warmup_factor"], step_hint)
    return keep_dtype(
        gradient_flow.runge_kutta(gradient_flow.RK4, schedule, hparams["weight_decay"])
    )
