r"""SGD with heavy-ball or Nesterov momentum and AlgoPerf's schedule. A baseline.

L2 weight decay is added to the gradient first (as in AlgoPerf's momentum
baseline); then with buffer :math:`b_t = \mu b_{t-1} + g_t`:
heavy ball steps along :math:`b_t`, Nesterov along :math:`g_t + \mu b_t`.
``nesterov`` is a 0/1 hyperparameter (a number, so that it can be traced).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

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


class MomentumState(NamedTuple):
    buffer: optax.Updates


def scale_by_momentum(momentum, nesterov) -> optax.GradientTransformation:
    """Heavy-ball (nesterov=0) or Nesterov (nesterov=1) momentum direction."""

    def init_fn(params):
        return MomentumState(buffer=jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state, params=None):
        del params
        buffer = jax.tree.map(
            lambda b, g: (momentum * b + g).astype(g.dtype), state.buffer, updates
        )
        use_nesterov = jnp.asarray(nesterov) > 0.5
        updates = jax.tree.map(
            lambda b, g: jnp.where(use_nesterov, g + momentum * b, b).astype(g.dtype),
            buffer,
            updates,
        )
        return updates, MomentumState(buffer=buffer)

    return optax.GradientTransformation(init_fn, update_fn)


def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformation:
    schedule = warmup_cosine(hparams["learning_rate"], hparams["warmup_factor"], step_hint)
    return keep_dtype(
        optax.chain(
            optax.add_decayed_weights(hparams["weight_decay"]),
            scale_by_momentum(hparams["momentum"], hparams["nesterov"]),
            optax.scale_by_learning_rate(schedule),
        )
    )
