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
        # A rate known to be 0 when tracing (the runner passes a Python 0.0 for a
        # trial without dropout) draws no mask: on a CPU the random bits cost
        # more than a small model's layer.
        if not train or (isinstance(rate, (int, float)) and rate == 0):
            return x
        rate = jnp.asarray(rate, x.dtype)
        keep = 1.0 - rate
        mask = jax.random.bernoulli(self.make_rng("dropout"), keep, x.shape)
        return jnp.where(mask, x / jnp.maximum(keep, 1e-6), jnp.zeros_like(x))
