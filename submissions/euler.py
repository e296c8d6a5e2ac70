"""Gradient flow integrated by forward Euler: plain SGD, one gradient per step.

Our interpretation of Ma et al. (2024); see ``algoperf_lite.optim.gradient_flow``.
Step size: the scheduled learning rate (AlgoPerf's warmup and cosine); L2
weight decay is part of the integrated field.
"""

import functools

from algoperf_lite.optim import gradient_flow

GRAD_EVALS_PER_STEP = len(gradient_flow.EULER[1])
# Shared by the integrator submissions: the step size is the scheduled learning rate.
HPARAMS = {
    "learning_rate": 0.05,
    "warmup_factor": 0.05,
    "weight_decay": 0.0,
    "label_smoothing": 0.0,
    "dropout_rate": 0.0,
}
make_optimizer = gradient_flow.make_optimizer_factory(
    functools.partial(gradient_flow.runge_kutta, gradient_flow.EULER)
)
