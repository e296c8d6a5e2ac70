"""Learning-rate schedules that accept traced hyperparameters.

optax's own schedule builders branch in Python on their arguments (for
example ``transition_steps <= 0``), so they cannot take hyperparameters that
arrive as arrays inside a compiled step. These are written with ``jnp`` only.
"""

import jax.numpy as jnp


def warmup_cosine(learning_rate, warmup_factor, step_hint: int):
    """AlgoPerf's schedule: linear warmup from 0, then cosine decay to 0.

    warmup_steps = floor(warmup_factor * step_hint); the rate rises linearly
    from 0 to ``learning_rate`` over those steps, then follows a half cosine to
    0 over ``max(step_hint - warmup_steps, 1)`` steps and stays at 0 after.
    The step count starts at 0.

    ``warmup_factor * step_hint`` is computed in the dtype of the inputs
    (float32 under default JAX settings); where that product lies within
    float32 rounding of an integer, the warmup can differ by one step from
    Python's ``int()`` in float64.
    """
    warmup_steps = jnp.floor(jnp.asarray(warmup_factor, jnp.float32) * step_hint)
    decay_steps = jnp.maximum(step_hint - warmup_steps, 1.0)

    def schedule(count):
        count = jnp.asarray(count, jnp.float32)
        warm = learning_rate * count / jnp.maximum(warmup_steps, 1.0)
        progress = jnp.clip((count - warmup_steps) / decay_steps, 0.0, 1.0)
        cosine = 0.5 * learning_rate * (1.0 + jnp.cos(jnp.pi * progress))
        return jnp.where(count < warmup_steps, warm, cosine)

    return schedule
