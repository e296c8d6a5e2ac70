"""Re-expression of the v0.5 entry "LAWA EMA" (PyTorch only): AlgoPerf's
NAdamW (warmup then cosine), plus an exponential moving average of the
weights, started at ``lawa_start_factor * step_hint`` and updated every
``lawa_interval_scaling * step_hint`` steps with factor ``floor(lawa_beta)``
(the entry reads ``int(lawa_beta)``, so its 0.2 keeps only the latest
snapshot; we follow the file, not its intent);
evaluations see the average, training goes on from the raw weights. Our
re-expression, simplified: the entry also copies the average into the model
between calls (``lawa_inner_steps_frac``); that name is accepted and unused
here.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from submissions.nadamw import HPARAMS as NADAMW_HPARAMS
from submissions.nadamw import make_optimizer as make_nadamw

HPARAMS = {
    **NADAMW_HPARAMS,
    "lawa_start_factor": 0.02,
    "lawa_interval_scaling": 0.005,
    "lawa_beta": 0.2,
    "lawa_inner_steps_frac": 0.25,
}


class AverageState(NamedTuple):
    count: jax.Array
    average: optax.Params
    started: jax.Array


def weight_average(start, interval, beta) -> optax.GradientTransformation:
    """Keeps an EMA of the parameters after the update (updates pass through)."""

    def init_fn(params):
        return AverageState(jnp.zeros([], jnp.int32), params, jnp.zeros([], bool))

    def update_fn(updates, state, params):
        new = optax.apply_updates(params, updates)
        count = state.count + 1
        due = (count >= start) & (jnp.mod(count - start, interval) == 0)
        mixed = jax.tree.map(lambda a, p: beta * a + (1 - beta) * p, state.average, new)
        fresh = jnp.logical_not(state.started)
        average = jax.tree.map(
            lambda a, m, p: jnp.where(due, jnp.where(fresh, p, m), a), state.average, mixed, new
        )
        return updates, AverageState(count, average, state.started | due)

    return optax.GradientTransformation(init_fn, update_fn)


def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformation:
    start = jnp.ceil(hparams["lawa_start_factor"] * step_hint)
    interval = jnp.maximum(jnp.ceil(hparams["lawa_interval_scaling"] * step_hint), 1.0)
    return optax.chain(
        make_nadamw(hparams, step_hint),
        weight_average(
            start.astype(jnp.int32),
            interval.astype(jnp.int32),
            jnp.floor(hparams["lawa_beta"]),
        ),
    )


def eval_params(opt_state, params):
    average = opt_state[-1]
    return jax.tree.map(lambda a, p: jnp.where(average.started, a, p), average.average, params)
