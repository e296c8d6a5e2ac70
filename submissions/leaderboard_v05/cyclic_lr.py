"""Re-expression of the v0.5 entry "Cyclic LR" (PyTorch only): AlgoPerf's
NAdamW with ``cycles`` warm-cosine cycles over ``step_hint`` steps, each
cycle a linear warmup over ``warmup_factor * step_hint`` steps to
``learning_rate`` then a half cosine down to 1e-10 (the entry's
``WarmCosineCycles``; ``cycles = 1`` is its ``WarmCosine``), the rate of step
t read at t + 1 as the entry's scheduler steps first. Our re-expression.
"""

import jax.numpy as jnp
import optax

from algoperf_lite.optim.nadam import nadamw
from submissions.nadamw import HPARAMS as NADAMW_HPARAMS

HPARAMS = {**NADAMW_HPARAMS, "cycles": 1.0}
LR_MIN = 1e-10


def cyclic_schedule(learning_rate, warmup_factor, cycles, step_hint: int):
    warmup = jnp.maximum(jnp.floor(warmup_factor * step_hint), 1.0)
    length = step_hint / jnp.maximum(jnp.round(cycles), 1.0)

    def schedule(count):
        t = jnp.asarray(count, jnp.float32) + 1.0
        phi = jnp.floor(jnp.maximum(t - 1.0, 0.0) / length)  # the cycle t falls in
        u = t - phi * length
        rise = LR_MIN + (learning_rate - LR_MIN) / warmup * u
        fall = LR_MIN + 0.5 * (learning_rate - LR_MIN) * (
            1.0 + jnp.cos((u - warmup) * jnp.pi / jnp.maximum(length - warmup, 1.0))
        )
        rate = jnp.where(u <= warmup, rise, fall)
        return jnp.where(t > step_hint, LR_MIN, rate)

    return schedule


def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformation:
    schedule = cyclic_schedule(
        hparams["learning_rate"], hparams["warmup_factor"], hparams["cycles"], step_hint
    )
    return nadamw(
        schedule,
        b1=1.0 - hparams["one_minus_beta1"],
        b2=hparams["beta2"],
        weight_decay=hparams["weight_decay"],
    )
