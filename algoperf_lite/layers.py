"""Flax layers that take regularization strengths as call arguments.

Passing the rate per call (rather than fixing it at construction, as
``flax.linen.Dropout`` does with a Python branch on the rate) lets the rate be
a traced hyperparameter: a trial with another dropout rate reuses the compiled
step.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


class Dropout(nn.Module):
    """Inverted dropout whose rate may be a traced scalar in [0, 1)."""

    @nn.compact
    def __call__(self, x, rate, *, train: bool):
        if not train:
            return x
        rate = jnp.asarray(rate, x.dtype)
        key = self.make_rng("dropout")

        def drop(x):
            keep = 1.0 - rate
            mask = jax.random.bernoulli(key, keep, x.shape)
            return jnp.where(mask, x / jnp.maximum(keep, 1e-6), jnp.zeros_like(x))

        # At rate 0 the mask is all ones: skip drawing it (on a CPU the random
        # bits cost more than a small model's layer). Vmapped trials with
        # different rates compute both branches, as before.
        return jax.lax.cond(rate > 0, drop, lambda x: x, x)
