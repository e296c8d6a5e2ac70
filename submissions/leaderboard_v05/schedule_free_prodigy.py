"""Re-expression of the v0.5 entry "Schedule-Free Prodigy" (PyTorch only), step
for step after the entry's optimizer: Prodigy's distance estimate ``d`` (from
``d0 = 1e-6``, coefficient 1) drives a schedule-free AdamW with betas
(0.9, 0.9955), polynomial averaging weights ``(k+1)**0.75``, decoupled weight
decay (the one tuned hyperparameter), a linear warmup over ``0.075 *
step_hint`` steps and label smoothing 0.2. Gradients are taken at the
interpolated point y, which is what we store as the parameters; evaluations
see the average x. Our re-expression: the entry keeps its second moment, its
Prodigy sum and its starting point in bfloat16; we keep float32. As in the
file, the z step uses the new ``d`` times the previous ``d`` times the rate,
and weight decay the previous ``d`` times the rate.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

HPARAMS = {"weight_decay": 0.1, "label_smoothing": 0.2}
BETA1, BETA2, POWER, EPS, D0 = 0.9, 0.9955, 0.75, 1e-8, 1e-6
WARMUP_FACTOR = 0.075


class ProdigyState(NamedTuple):
    count: jax.Array  # k, steps taken
    x: optax.Params  # the average, evaluated
    z: optax.Params  # the base iterate
    start: optax.Params  # the first parameters, Prodigy's p0
    second_moment: optax.Params
    prodigy_sum: optax.Params  # Prodigy's s
    d: jax.Array
    d_numerator: jax.Array
    weight_sum: jax.Array


def schedule_free_prodigy(weight_decay, warmup) -> optax.GradientTransformation:
    def init_fn(params):
        zeros = optax.tree.zeros_like(params)
        scalar = jnp.zeros([], jnp.float32)
        return ProdigyState(
            jnp.zeros([], jnp.int32), params, params, params, zeros, zeros,
            scalar + D0, scalar, scalar,
        )  # fmt: skip

    def update_fn(grads, state, params):
        lr = jnp.minimum((state.count + 1.0) / warmup, 1.0)
        d, dlr = state.d, state.d * lr
        root = jnp.sqrt(BETA2)
        numerator = state.d_numerator * root + d * dlr * optax.tree.vdot(
            grads, optax.tree.sub(state.start, state.z)
        )
        second = jax.tree.map(
            lambda v, g: BETA2 * v + (1 - BETA2) * d * d * g * g, state.second_moment, grads
        )
        prodigy_sum = jax.tree.map(lambda s, g: root * s + dlr * d * g, state.prodigy_sum, grads)
        denominator = sum(jnp.sum(jnp.abs(s)) for s in jax.tree.leaves(prodigy_sum))
        safe = jnp.where(denominator > 0, denominator, 1.0)
        new_d = jnp.maximum(d, numerator / safe)
        weight = (state.count + 1.0) ** POWER
        weight_sum = state.weight_sum + weight
        mix = weight / weight_sum

        def z_step(z, x, g, v):
            return z - weight_decay * dlr * x - new_d * dlr * g / (jnp.sqrt(v) + new_d * EPS)

        z = jax.tree.map(z_step, state.z, state.x, grads, second)
        x = jax.tree.map(lambda x, z: (1 - mix) * x + mix * z, state.x, z)
        y = jax.tree.map(lambda x, z: BETA1 * x + (1 - BETA1) * z, x, z)
        stepped = ProdigyState(
            state.count + 1, x, z, state.start, second, prodigy_sum, new_d, numerator, weight_sum
        )
        # The entry returns before any change when the Prodigy sum is all zero.
        moved = denominator > 0
        new_state = jax.tree.map(lambda a, b: jnp.where(moved, a, b), stepped, state)
        new_params = jax.tree.map(lambda a, b: jnp.where(moved, a, b), y, params)
        return optax.tree.sub(new_params, params), new_state

    return optax.GradientTransformation(init_fn, update_fn)


def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformation:
    warmup = jnp.maximum(jnp.floor(WARMUP_FACTOR * step_hint), 1.0)
    return schedule_free_prodigy(hparams["weight_decay"], warmup)


def eval_params(opt_state, params):
    return opt_state.x
