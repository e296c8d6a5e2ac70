"""Gradient flow integrated by classical Runge-Kutta (RK4): four gradients per step.

Our interpretation of Ma et al. (2024); see ``algoperf_lite.optim.gradient_flow``.
Step size: the scheduled learning rate (AlgoPerf's warmup and cosine); L2
weight decay is part of the integrated field.
"""

import functools

from algoperf_lite.optim import gradient_flow
from submissions import euler

GRAD_EVALS_PER_STEP = len(gradient_flow.RK4[1])
HPARAMS = dict(euler.HPARAMS)  # the integrators share their settings
make_optimizer = gradient_flow.make_optimizer_factory(
    functools.partial(gradient_flow.runge_kutta, gradient_flow.RK4)
)
