"""Conformance suite every registered submission must pass (in the spirit of
optax's common tests): convergence inside lax.scan, no recompilation, traced
and vmapped hyperparameters, dtypes kept, an orbax-restorable state."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from algoperf_lite import load_submission
from submissions import SUBMISSIONS

MULTIPLIERS = jnp.array([10.0, 3.0, 1.0, 0.3, 0.1, 0.03, 0.01, 0.001])


def quadratic(p):
    return 0.5 * jnp.sum(jnp.array([1.0, 4.0, 10.0]) * (p["x"] - jnp.array([1.0, -1.0, 0.5])) ** 2)


def rosenbrock(p):
    x, y = p["x"][0], p["x"][1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def rates_scaled(hparams, multiplier):
    """Every rate-like hyperparameter (names ending in learning_rate or _lr) times ``multiplier``,
    weight decay off (it moves the optimum)."""
    out = {k: jnp.float32(v) for k, v in hparams.items()}
    for k in out:
        if k.endswith("learning_rate") or k.endswith("_lr"):
            out[k] = out[k] * multiplier
        if k == "weight_decay":
            out[k] = jnp.float32(0.0)
    return out


def optimizer(sub, hp, step_hint):
    """The submission's transformation, taking grad_fn whether it needs it or not."""
    return optax.with_extra_args_support(sub.make_optimizer(hp, step_hint))


def train(sub, f, x0, hp, steps):
    tx = optimizer(sub, hp, steps)
    params = {"x": x0}
    grad_fn = jax.grad(f)

    def body(carry, _):
        params, state = carry
        updates, state = tx.update(grad_fn(params), state, params, grad_fn=grad_fn)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(body, (params, tx.init(params)), None, length=steps)
    return params


@pytest.mark.parametrize("name", list(SUBMISSIONS))
@pytest.mark.parametrize(
    "problem, x0, steps, tolerance",
    # Momentum-free integrators crawl along Rosenbrock's valley: give them the steps.
    [(quadratic, (0.0, 0.0, 0.0), 3000, 1e-6), (rosenbrock, (-1.0, 1.0), 30000, 1e-3)],
    ids=["quadratic", "rosenbrock"],
)
def test_converges_inside_scan_for_some_rate(name, problem, x0, steps, tolerance):
    sub = load_submission(name)

    def final_loss(multiplier):
        hp = rates_scaled(sub.hparams, multiplier)
        return problem(train(sub, problem, jnp.array(x0), hp, steps))

    losses = jax.jit(jax.vmap(final_loss))(MULTIPLIERS)
    assert float(jnp.nanmin(losses)) < tolerance, dict(
        zip(MULTIPLIERS.tolist(), losses.tolist(), strict=True)
    )


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_vmapped_points_equal_separate_runs(name):
    sub = load_submission(name)
    points = [rates_scaled(sub.hparams, m) for m in (0.01, 0.003)]
    stacked = jax.tree.map(lambda *v: jnp.stack(v), *points)
    run = jax.jit(lambda hp: train(sub, quadratic, jnp.zeros(3), hp, steps=200)["x"])
    together = jax.vmap(run)(stacked)
    for i, hp in enumerate(points):
        np.testing.assert_allclose(together[i], run(hp), rtol=1e-6, atol=1e-7)
    assert not np.allclose(together[0], together[1])


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_second_update_does_not_recompile(name):
    sub = load_submission(name)
    params = {"w": jnp.ones((4, 3)), "b": jnp.zeros(3)}

    @jax.jit
    def update(grads, state, params, hp):
        grad_fn = lambda p: jax.tree.map(lambda x: jnp.sin(x) + 1.0, p)
        return optimizer(sub, hp, 100).update(grads, state, params, grad_fn=grad_fn)

    hp = rates_scaled(sub.hparams, 1.0)
    state = optimizer(sub, hp, 100).init(params)
    grads = jax.tree.map(jnp.ones_like, params)
    updates, state = update(grads, state, params, hp)
    compiles = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, *a, **k: compiles.append(event) if "backend_compile" in event else None
    )
    other = rates_scaled(sub.hparams, 0.5)
    jax.block_until_ready(update(grads, state, params, other))
    assert compiles == []


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_bf16_parameters_keep_their_dtype(name):
    sub = load_submission(name)
    params = {"w": jnp.ones((4, 3), jnp.bfloat16), "b": jnp.zeros(3, jnp.bfloat16)}
    tx = optimizer(sub, rates_scaled(sub.hparams, 1.0), 100)
    state = tx.init(params)
    state_types = [leaf.dtype for leaf in jax.tree.leaves(state)]
    grad_fn = lambda p: jax.tree.map(lambda x: (0.5 * jnp.cos(x)).astype(x.dtype), p)
    for _ in range(3):
        updates, state = tx.update(grad_fn(params), state, params, grad_fn=grad_fn)
        params = optax.apply_updates(params, updates)
    assert [leaf.dtype for leaf in jax.tree.leaves(state)] == state_types  # scan-safe
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(params))
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(updates))


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_state_is_a_pytree_orbax_restores(name, tmp_path):
    import orbax.checkpoint as ocp

    sub = load_submission(name)
    params = {"w": jnp.arange(12.0).reshape(4, 3), "b": jnp.zeros(3)}
    tx = optimizer(sub, rates_scaled(sub.hparams, 1.0), 100)
    state = tx.init(params)
    grad_fn = lambda p: jax.tree.map(jnp.cos, p)
    for _ in range(2):
        _, state = tx.update(grad_fn(params), state, params, grad_fn=grad_fn)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "state", state)
    checkpointer.wait_until_finished()
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
    restored = checkpointer.restore(tmp_path / "state", abstract)
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
