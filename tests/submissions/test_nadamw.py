"""NAdamW against an independent float64 NumPy implementation of AlgoPerf's rule."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from algoperf_lite.optim.schedules import warmup_cosine
from submissions import adamw, nadamw, sgd

STEP_HINT = 100
STEPS = 130  # through warmup, the whole cosine, and past step_hint


def numpy_schedule(lr, warmup_factor, step_hint, step):
    warmup = int(warmup_factor * step_hint)
    if step < warmup:
        return lr * step / warmup
    progress = min((step - warmup) / max(step_hint - warmup, 1), 1.0)
    return lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def numpy_nadamw(params, grads, hp, step_hint):
    """AlgoPerf's NAdamW in float64: Nesterov term debiased by 1 - b1^t, eps 1e-8,
    decoupled weight decay on every parameter, scaled by the scheduled rate."""
    b1, b2 = 1.0 - hp["one_minus_beta1"], hp["beta2"]
    theta = [p.astype(np.float64) for p in params]
    m = [np.zeros_like(p) for p in theta]
    v = [np.zeros_like(p) for p in theta]
    trajectory = []
    for t, g_t in enumerate(grads, start=1):
        lr = numpy_schedule(hp["learning_rate"], hp["warmup_factor"], step_hint, t - 1)
        for i, g in enumerate(g_t):
            g = g.astype(np.float64)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat = (b1 * m[i] + (1 - b1) * g) / (1 - b1**t)
            v_hat = v[i] / (1 - b2**t)
            theta[i] = theta[i] - lr * (
                m_hat / (np.sqrt(v_hat) + 1e-8) + hp["weight_decay"] * theta[i]
            )
        trajectory.append([p.copy() for p in theta])
    return trajectory


def run_optax(tx, params, grads):
    state = tx.init(params)

    @jax.jit
    def step(params, state, g):
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state

    out = []
    for g in grads:
        params, state = step(params, state, g)
        out.append([np.asarray(p) for p in params])
    return out


def problem(seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(7,)).astype(np.float32)]
    # Gradients of varied scale and sign, fixed in advance so both sides see the same.
    grads = [
        [
            (rng.normal(size=p.shape) * rng.choice([1e-3, 1.0, 30.0])).astype(np.float32)
            for p in params
        ]
        for _ in range(STEPS)
    ]
    return params, grads


HP = {
    "learning_rate": 0.05,
    "one_minus_beta1": 0.1,
    "beta2": 0.99,
    "weight_decay": 0.3,
    "warmup_factor": 0.1,
}


@pytest.mark.parametrize("hp", [HP, {**HP, "warmup_factor": 0.0, "one_minus_beta1": 0.5}])
def test_nadamw_matches_numpy_rule(hp):
    params, grads = problem()
    ours = run_optax(nadamw.make_optimizer({**nadamw.HPARAMS, **hp}, STEP_HINT), params, grads)
    reference = numpy_nadamw(params, grads, hp, STEP_HINT)
    worst = 0.0
    for a_t, b_t in zip(ours, reference, strict=True):
        for a, b in zip(a_t, b_t, strict=True):
            worst = max(worst, np.linalg.norm(a - b) / np.linalg.norm(b))
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert worst < 1e-5
    # The run went through warmup and decay: parameters moved, then froze at lr 0.
    assert not np.allclose(ours[0][0], ours[STEP_HINT // 2][0])
    np.testing.assert_array_equal(ours[STEP_HINT][0], ours[-1][0])


def test_nadamw_differs_from_optax_nadamw():
    """optax.nadamw debiases the Nesterov term with 1 - b1^(t+1): not AlgoPerf's rule."""
    params, grads = problem(1)
    schedule = warmup_cosine(HP["learning_rate"], HP["warmup_factor"], STEP_HINT)
    theirs = optax.nadamw(schedule, b1=0.9, b2=0.99, eps=1e-8, weight_decay=0.3)
    ours = nadamw.make_optimizer({**nadamw.HPARAMS, **HP}, STEP_HINT)
    a, b = run_optax(ours, params, grads[:5]), run_optax(theirs, params, grads[:5])
    assert np.abs(a[-1][0] - b[-1][0]).max() > 1e-4


def test_adamw_matches_optax_adamw_with_the_same_schedule():
    params, grads = problem(2)
    hp = {**adamw.HPARAMS, **HP}
    schedule = warmup_cosine(HP["learning_rate"], HP["warmup_factor"], STEP_HINT)
    theirs = optax.adamw(schedule, b1=0.9, b2=0.99, eps=1e-8, weight_decay=0.3)
    for a, b in zip(
        run_optax(adamw.make_optimizer(hp, STEP_HINT), params, grads),
        run_optax(theirs, params, grads),
        strict=True,
    ):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("nesterov", [0.0, 1.0])
def test_sgd_matches_optax_sgd(nesterov):
    params, grads = problem(3)
    hp = {
        **sgd.HPARAMS,
        "learning_rate": 0.01,
        "momentum": 0.8,
        "nesterov": nesterov,
        "weight_decay": 1e-3,
        "warmup_factor": 0.1,
    }
    schedule = warmup_cosine(0.01, 0.1, STEP_HINT)
    theirs = optax.chain(
        optax.add_decayed_weights(1e-3),
        optax.sgd(schedule, momentum=0.8, nesterov=bool(nesterov)),
    )
    for a, b in zip(
        run_optax(sgd.make_optimizer(hp, STEP_HINT), params, grads),
        run_optax(theirs, params, grads),
        strict=True,
    ):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("warmup_factor", [0.0, 0.05, 0.1, 0.25, 1.0])
def test_schedule_matches_numpy(warmup_factor):
    fn = jax.jit(lambda lr, wf, s: warmup_cosine(lr, wf, STEP_HINT)(s))
    for step in range(0, STEP_HINT + 10):
        expected = numpy_schedule(0.5, warmup_factor, STEP_HINT, step)
        got = float(fn(jnp.float32(0.5), jnp.float32(warmup_factor), step))
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-7), step
