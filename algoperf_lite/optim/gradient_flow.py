r"""Update rules from numerical integration of the gradient flow.

Our interpretation of Ma et al. (2024, arXiv 2409.04707), whose full method
we could not verify: gradient descent is the forward-Euler discretisation of
:math:`\dot\theta = -F(\theta)`, :math:`F = \nabla L + \lambda\theta` (L2 weight
decay folded into the field), with step size :math:`h` = the scheduled
learning rate. Higher-order integrators take the same field:

* explicit Runge-Kutta methods from a Butcher tableau (``EULER``, ``HEUN``
  (RK2), ``RK4``), each stage one gradient on the *current batch* at a trial
  point: s stages = s gradient evaluations per step;
* Adams-Bashforth multi-step methods (``adams_bashforth(order)``): one
  gradient per step plus a history of previous ones, Euler and lower orders
  while the history fills.

The extra gradients come from the runner: ``update(..., grad_fn=...)`` gets a
function ``params -> gradient`` on the current batch (optax's
``GradientTransformationExtraArgs``). Batch-norm statistics move only with
the first gradient of a step; dropout masks are the same for every stage.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

# Butcher tableaux: (a rows of the lower triangle, b weights).
EULER = ((), (1.0,))
HEUN = (((1.0,),), (0.5, 0.5))
RK4 = (((0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)), (1 / 6, 1 / 3, 1 / 3, 1 / 6))
# Adams-Bashforth coefficients for orders 1..4, newest gradient first.
AB_COEFFICIENTS = {
    1: (1.0,),
    2: (3 / 2, -1 / 2),
    3: (23 / 12, -16 / 12, 5 / 12),
    4: (55 / 24, -59 / 24, 37 / 24, -9 / 24),
}


class CountState(NamedTuple):
    count: jax.Array


class AdamsBashforthState(NamedTuple):
    count: jax.Array
    history: tuple  # previous fields F, newest first


def _axpy(a, x, y):
    """a x + y, in y's dtypes."""
    # Written out (not optax.tree.add_scale): XLA fuses ``a * x + y`` the way the
    # committed integrator runs were computed, to the last bit.
    return jax.tree.map(lambda u, v: (a * u + v).astype(v.dtype), x, y)


def _field(grad_fn, weight_decay):
    def field(params):
        return optax.tree.add_scale(grad_fn(params), weight_decay, params)

    return field


def runge_kutta(tableau, learning_rate, weight_decay=0.0) -> optax.GradientTransformationExtraArgs:
    """An explicit Runge-Kutta step of size ``learning_rate(count)`` on -F."""
    a, b = tableau

    def init_fn(params):
        del params
        return CountState(jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None, *, grad_fn=None, **extra):
        del extra
        h = learning_rate(state.count)
        field = _field(grad_fn, weight_decay) if grad_fn is not None else None
        stages = [optax.tree.add_scale(updates, weight_decay, params)]
        for row in a:
            if field is None:
                raise ValueError("this update rule needs grad_fn for its extra gradients")
            point = params
            for coefficient, k in zip(row, stages, strict=False):
                if coefficient:
                    point = _axpy(-h * coefficient, k, point)
            stages.append(field(point))
        step = optax.tree.zeros_like(params)
        for weight, k in zip(b, stages, strict=True):
            step = _axpy(-h * weight, k, step)
        return step, CountState(state.count + 1)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def adams_bashforth(
    order, learning_rate, weight_decay=0.0
) -> optax.GradientTransformationExtraArgs:
    """Adams-Bashforth of ``order`` (1-4) with step ``learning_rate(count)``."""
    if order not in AB_COEFFICIENTS:
        raise ValueError(f"Adams-Bashforth order must be 1 to 4, got {order}")

    def init_fn(params):
        zeros = optax.tree.zeros_like(params)
        return AdamsBashforthState(jnp.zeros([], jnp.int32), (zeros,) * (order - 1))

    def update_fn(updates, state, params=None, **extra):
        del extra
        h = learning_rate(state.count)
        fields = (optax.tree.add_scale(updates, weight_decay, params),)
        fields += state.history
        # With k fields known, use the order-k formula (Euler at the first step).
        known = jnp.minimum(state.count + 1, order)
        step = optax.tree.zeros_like(params)
        for k in range(1, order + 1):
            coefficients = AB_COEFFICIENTS[k]
            use = (known == k).astype(jnp.float32)
            for c, f in zip(coefficients, fields, strict=False):
                step = _axpy(-h * c * use, f, step)
        history = fields[: order - 1]
        return step, AdamsBashforthState(state.count + 1, history)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def make_optimizer_factory(integrator):
    """``make_optimizer(hparams, step_hint)`` for ``integrator(schedule, weight_decay)``."""
    from algoperf_lite.optim.schedules import warmup_cosine
    from algoperf_lite.optim.transforms import keep_dtype

    def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformationExtraArgs:
        schedule = warmup_cosine(hparams["learning_rate"], hparams["warmup_factor"], step_hint)
        return keep_dtype(integrator(schedule, hparams["weight_decay"]))

    return make_optimizer
