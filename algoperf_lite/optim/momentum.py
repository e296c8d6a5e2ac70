r"""Heavy-ball and Nesterov momentum as an optax direction: with buffer
:math:`b_t = \mu b_{t-1} + g_t`, heavy ball steps along :math:`b_t`, Nesterov
along :math:`g_t + \mu b_t`. ``nesterov`` is a number (0 or 1), so that it can
be traced like any hyperparameter.

Example::

    >>> import jax.numpy as jnp
    >>> from algoperf_lite.optim.momentum import scale_by_momentum
    >>> tx = scale_by_momentum(0.9, nesterov=1.0)
    >>> updates, state = tx.update({"w": jnp.ones(3)}, tx.init({"w": jnp.ones(3)}))
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class MomentumState(NamedTuple):
    buffer: optax.Updates


def scale_by_momentum(momentum, nesterov) -> optax.GradientTransformation:
    """Heavy-ball (nesterov=0) or Nesterov (nesterov=1) momentum direction."""

    def init_fn(params):
        return MomentumState(buffer=optax.tree.zeros_like(params))

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
