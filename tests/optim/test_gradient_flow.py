"""The integrators against their exact one-step factors on f = lambda x^2 / 2,
where the gradient flow is x(t) = x0 exp(-lambda t)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from algoperf_lite import load_submission, run_trial
from algoperf_lite.optim import gradient_flow
from workloads import WORKLOADS

LAMBDA, H = 3.0, 0.1


def field(params):
    return jax.tree.map(lambda x: LAMBDA * x, params)


def steps(tx, n, x0=1.0):
    params = {"x": jnp.float32(x0)}
    state = tx.init(params)
    out = []
    for _ in range(n):
        updates, state = tx.update(field(params), state, params, grad_fn=field)
        params = optax.apply_updates(params, updates)
        out.append(float(params["x"]))
    return out


def taylor(order, z):
    return sum((-z) ** k / math.factorial(k) for k in range(order + 1))


@pytest.mark.parametrize(
    "tableau, order", [(gradient_flow.EULER, 1), (gradient_flow.HEUN, 2), (gradient_flow.RK4, 4)]
)
def test_runge_kutta_one_step_factor(tableau, order):
    tx = gradient_flow.runge_kutta(tableau, lambda count: H)
    factor = taylor(order, H * LAMBDA)
    np.testing.assert_allclose(steps(tx, 3), [factor, factor**2, factor**3], rtol=1e-6)


def test_higher_order_is_closer_to_the_flow():
    exact = math.exp(-LAMBDA * H * 10)
    errors = [
        abs(steps(gradient_flow.runge_kutta(t, lambda c: H), 10)[-1] - exact)
        for t in (gradient_flow.EULER, gradient_flow.HEUN, gradient_flow.RK4)
    ]
    assert errors[0] > 5 * errors[1] > 100 * errors[2]  # 0.022, 0.0029, 1.3e-5


def test_adams_bashforth_recurrence():
    z = H * LAMBDA
    x = [1.0, 1.0 - z]  # Euler first, then AB2: x+ = x - h(3/2 f_n - 1/2 f_{n-1})
    for _ in range(3):
        x.append(x[-1] - z * (1.5 * x[-1] - 0.5 * x[-2]))
    tx = gradient_flow.adams_bashforth(2, lambda count: H)
    np.testing.assert_allclose(steps(tx, 4), x[1:], rtol=1e-6)


@pytest.mark.parametrize(
    "name, evals", [("euler", 1), ("heun", 2), ("rk4", 4), ("adams_bashforth", 1)]
)
def test_runner_supplies_gradients_and_counts_them(name, evals):
    mlp = WORKLOADS["mnist1d_mlp"]
    sub = load_submission(name)
    assert sub.grad_evals_per_step == evals
    easy = __import__("dataclasses").replace(mlp, validation_target=0.3)
    result = run_trial(easy, sub, {"learning_rate": 0.05}, seed=0, max_steps=400)
    assert result.status == "target_reached"
    assert result.grad_evals_to_target == evals * result.steps_to_target
