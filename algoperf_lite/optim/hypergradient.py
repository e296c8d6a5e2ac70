r"""Hypergradient descent (Baydin et al., ICLR 2018) as an optax wrapper.

Any base transformation that returns a *direction* :math:`d_t` (a step of
unit rate: plain gradients for SGD, the Nesterov direction for SGDN, the
debiased :math:`\hat m/(\sqrt{\hat v}+\epsilon)` for Adam) gets a learning
rate :math:`\alpha` of its own, kept in the optimizer state and updated
*before* the parameter step from one dot product over all parameters:

.. math::
    \alpha_t = \alpha_{t-1} + \beta\,\langle g_t, d_{t-1}\rangle
    \qquad\text{(additive)}

    \alpha_t = \alpha_{t-1}\Big(1 + \beta\,
        \frac{\langle g_t, d_{t-1}\rangle}{\lVert g_t\rVert\,\lVert d_{t-1}\rVert}\Big)
    \qquad\text{(multiplicative)}

    \theta_t = \theta_{t-1} - \alpha_t d_t

with :math:`d_0 = 0`, so :math:`\alpha` does not move at the first step, and
no clipping (:math:`\alpha` may become negative, as in the paper). Chain
``optax.add_decayed_weights`` before it for the paper's L2 weight decay: the
gradient in the dot product then includes it.

Example::

    >>> import optax, jax.numpy as jnp
    >>> from algoperf_lite.optim.hypergradient import hypergradient
    >>> tx = hypergradient(optax.scale_by_adam(), initial_lr=1e-3, hyper_lr=1e-7)
    >>> state = tx.init({"w": jnp.ones(3)})
    >>> updates, state = tx.update({"w": jnp.ones(3)}, state)
    >>> float(state.learning_rate)
    0.001
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class HypergradientState(NamedTuple):
    learning_rate: jax.Array  # alpha_t, float32 scalar
    direction: optax.Updates  # d_{t-1}: the base's previous direction
    inner: optax.OptState


def _dot(a, b) -> jax.Array:
    return jnp.asarray(optax.tree.vdot(a, b), jnp.float32)


def hypergradient(
    base: optax.GradientTransformation,
    initial_lr,
    hyper_lr,
    multiplicative=False,
) -> optax.GradientTransformation:
    """Wrap ``base`` (a direction) with a hypergradient-adapted learning rate.

    ``initial_lr`` is :math:`\\alpha_0`, ``hyper_lr`` is :math:`\\beta`;
    ``multiplicative`` (bool or 0/1 array) picks the multiplicative rule. All
    three may be traced arrays.
    """

    def init_fn(params):
        return HypergradientState(
            learning_rate=jnp.asarray(initial_lr, jnp.float32),
            direction=optax.tree.zeros_like(params),
            inner=base.init(params),
        )

    def update_fn(updates, state, params=None):
        dot = _dot(updates, state.direction)
        norms = jnp.sqrt(_dot(updates, updates) * _dot(state.direction, state.direction))
        cosine = jnp.where(norms > 0, dot / jnp.where(norms > 0, norms, 1.0), 0.0)
        alpha = jnp.where(
            jnp.asarray(multiplicative) > 0,
            state.learning_rate * (1.0 + hyper_lr * cosine),
            state.learning_rate + hyper_lr * dot,
        ).astype(jnp.float32)
        direction, inner = base.update(updates, state.inner, params)
        step = optax.tree.cast_like(optax.tree.scale(-alpha, direction), direction)
        return step, HypergradientState(learning_rate=alpha, direction=direction, inner=inner)

    return optax.GradientTransformation(init_fn, update_fn)


def current_learning_rate(opt_state) -> jax.Array | None:
    """alpha_t from an optimizer state that contains a hypergradient state."""
    return optax.tree.get(opt_state, "learning_rate")
