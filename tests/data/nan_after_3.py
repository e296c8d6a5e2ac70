"""Test submission: plain SGD whose updates turn NaN from the fourth step on."""

import jax
import jax.numpy as jnp
import optax

HPARAMS = {"learning_rate": 0.1}


def make_optimizer(hparams, step_hint):
    def init(params):
        return jnp.zeros([], jnp.int32)

    def update(updates, count, params=None):
        poison = jnp.where(count >= 3, jnp.nan, 1.0)
        scaled = jax.tree.map(lambda g: -hparams["learning_rate"] * poison * g, updates)
        return scaled, count + 1

    return optax.GradientTransformation(init, update)
