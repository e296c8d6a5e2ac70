r"""NAdamW exactly as AlgoPerf's reference baseline defines it: ``scale_by_nadam``
(the direction) and ``nadamw`` (direction, decoupled weight decay, step size).

With gradient :math:`g_t`, :math:`t` counting from 1 and the schedule's step
:math:`s = t - 1` counting from 0:

.. math::
    m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2

    \hat m_t = \frac{\beta_1 m_t + (1-\beta_1) g_t}{1-\beta_1^t},\qquad
    \hat v_t = \frac{v_t}{1-\beta_2^t}

    \theta_t = \theta_{t-1} - \eta(s)\Big(\frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon}
    + \lambda\,\theta_{t-1}\Big)

with :math:`\epsilon = 10^{-8}`, weight decay :math:`\lambda` on every
parameter, and :math:`\eta` AlgoPerf's linear-warmup-then-cosine schedule
(``algoperf_lite.optim.schedules.warmup_cosine``). ``optax.nadamw`` differs: it
debiases the Nesterov term with :math:`1-\beta_1^{t+1}`.

Example::

    >>> import jax.numpy as jnp
    >>> from algoperf_lite.optim.nadam import nadamw
    >>> tx = nadamw(1e-3, b1=0.9, b2=0.999, weight_decay=1e-4)
    >>> state = tx.init({"w": jnp.ones(3)})
    >>> updates, state = tx.update({"w": jnp.ones(3)}, state, {"w": jnp.ones(3)})

References: Dozat, "Incorporating Nesterov momentum into Adam" (2016);
Loshchilov & Hutter, "Decoupled weight decay regularization" (2019);
Dahl et al., "Benchmarking neural network training algorithms" (2023).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from algoperf_lite.optim.transforms import keep_dtype

EPSILON = 1e-8


class ScaleByNadamState(NamedTuple):
    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def scale_by_nadam(b1, b2, eps=EPSILON) -> optax.GradientTransformation:
    """The NAdam direction with AlgoPerf's Nesterov bias correction."""

    def init_fn(params):
        zeros = optax.tree.zeros_like(params)
        return ScaleByNadamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(updates, state, params=None):
        del params
        mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, updates)
        nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, updates)
        count = state.count + 1
        t = count.astype(jnp.float32)

        def direction(m, v, g):
            m_hat = (b1 * m + (1 - b1) * g) / (1 - b1**t)
            v_hat = v / (1 - b2**t)
            return (m_hat / (jnp.sqrt(v_hat) + eps)).astype(g.dtype)

        updates = jax.tree.map(direction, mu, nu, updates)
        mu = jax.tree.map(lambda m, g: m.astype(g.dtype), mu, state.mu)
        nu = jax.tree.map(lambda v, g: v.astype(g.dtype), nu, state.nu)
        return updates, ScaleByNadamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def nadamw(learning_rate, b1, b2, weight_decay, eps=EPSILON) -> optax.GradientTransformation:
    """NAdam direction, decoupled weight decay, then the (scheduled) step size."""
    return keep_dtype(
        optax.chain(
            scale_by_nadam(b1, b2, eps),
            optax.add_decayed_weights(weight_decay),
            optax.scale_by_learning_rate(learning_rate),
        )
    )
