"""Gradient flow integrated by the 3rd-order Adams-Bashforth method: one
gradient per step plus the two previous ones (lower orders while they fill).

Our interpretation of Ma et al. (2024); see ``algoperf_lite.optim.gradient_flow``.
Step size: the scheduled learning rate; L2 weight decay is part of the field.
"""

import functools

from algoperf_lite.optim import gradient_flow
from submissions import euler

ORDER = 3
HPARAMS = dict(euler.HPARAMS)  # the integrators share their settings
make_optimizer = gradient_flow.make_optimizer_factory(
    functools.partial(gradient_flow.adams_bashforth, ORDER)
)
