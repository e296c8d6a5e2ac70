"""Re-expression of the v0.5 entry "LAWA Queue" (PyTorch only): AlgoPerf's
NAdamW (warmup then cosine), plus a queue of the last ``k`` weight snapshots,
taken from ``lawa_start_factor * step_hint`` on, one every
``lawa_interval_scaling * step_hint`` steps; once the queue is full,
evaluations see its mean, training goes on from the raw weights. Our
re-expression, simplified as ``lawa_ema``'s is (``lawa_inner_steps_frac`` is
accepted and unused). ``k`` is traced: a ring of ``MAX_K`` snapshots holds the
queue.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from submissions.leaderboard_v05.lawa_ema import HPARAMS as EMA_HPARAMS
from submissions.nadamw import make_optimizer as make_nadamw

HPARAMS = {k: v for k, v in EMA_HPARAMS.items() if k != "lawa_beta"}
HPARAMS.update({"lawa_interval_scaling": 0.002, "k": 10.0})
MAX_K = 16  # the longest queue (the entry's space uses k = 10)


class QueueState(NamedTuple):
    count: jax.Array
    taken: jax.Array  # snapshots taken so far
    ring: optax.Params  # MAX_K snapshots, the newest at (taken - 1) % MAX_K
    k: jax.Array


def snapshot_queue(start, interval, k) -> optax.GradientTransformation:
    def init_fn(params):
        ring = jax.tree.map(lambda p: jnp.zeros((MAX_K, *p.shape), p.dtype), params)
        zero = jnp.zeros([], jnp.int32)
        return QueueState(zero, zero, ring, jnp.clip(jnp.round(k), 1, MAX_K).astype(jnp.int32))

    def update_fn(updates, state, params):
        new = optax.apply_updates(params, updates)
        count = state.count + 1
        due = (count >= start) & (jnp.mod(count - start, interval) == 0)
        slot = jnp.mod(state.taken, MAX_K)
        ring = jax.tree.map(lambda r, p: jnp.where(due, r.at[slot].set(p), r), state.ring, new)
        return updates, QueueState(count, state.taken + due.astype(jnp.int32), ring, state.k)

    return optax.GradientTransformation(init_fn, update_fn)


def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformation:
    start = jnp.ceil(hparams["lawa_start_factor"] * step_hint).astype(jnp.int32)
    interval = jnp.maximum(jnp.ceil(hparams["lawa_interval_scaling"] * step_hint), 1.0)
    return optax.chain(
        make_nadamw(hparams, step_hint),
        snapshot_queue(start, interval.astype(jnp.int32), hparams["k"]),
    )


def eval_params(opt_state, params):
    queue = opt_state[-1]
    age = jnp.mod(queue.taken - 1 - jnp.arange(MAX_K), MAX_K)  # 0: the newest slot
    weights = (age < queue.k).astype(jnp.float32) / queue.k
    full = queue.taken >= queue.k

    def mean(ring, p):
        average = jnp.tensordot(weights, ring.astype(jnp.float32), axes=1).astype(p.dtype)
        return jnp.where(full, average, p)

    return jax.tree.map(mean, queue.ring, params)
