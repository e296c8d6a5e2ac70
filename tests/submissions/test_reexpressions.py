"""The optax re-expressions of PyTorch-only leaderboard entries follow their files."""

import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from submissions.leaderboard_v05 import schedule_free_prodigy as sfp


def torch_loop_in_numpy(grad_fn, p, steps, decay, warmup):
    """The entry's ProdigyScheduleFree.step, line by line, on one flat tensor."""
    beta1, beta2, r, eps = 0.9, 0.9955, 0.75, 1e-8
    d, d_numerator, weight_sum = 1e-6, 0.0, 0.0
    z, p0 = p.copy(), p.copy()
    v, s = np.zeros_like(p), np.zeros_like(p)
    trace = []
    for k in range(steps):
        lr = (k + 1) / warmup if k < warmup else 1.0
        dlr = d * lr
        d_numerator *= math.sqrt(beta2)
        p = beta1 * p + (1 - beta1) * z  # extrapolate
        g = grad_fn(p)
        p = (p - (1 - beta1) * z) / beta1  # unextrapolate
        accumulated = np.dot(g, p0 - z) * d * dlr
        v = beta2 * v + d * d * (1 - beta2) * g * g
        s = math.sqrt(beta2) * s + d * dlr * g
        d_numerator += accumulated
        d = max(d, d_numerator / np.abs(s).sum())
        weight = (k + 1) ** r
        weight_sum += weight
        c = weight / weight_sum
        z = z - decay * dlr * p
        z = z - d * dlr * g / (np.sqrt(v) + d * eps)
        p = (1 - c) * p + c * z
        trace.append((p.copy(), d))
    return trace


def test_schedule_free_prodigy_matches_the_entrys_step():
    target = np.linspace(-1.0, 2.0, 7)
    scale = np.linspace(0.5, 3.0, 7)

    def grad(x):
        return scale * (x - target)

    start = np.full(7, 0.3)
    reference = torch_loop_in_numpy(grad, start, steps=40, decay=0.01, warmup=5)
    with jax.enable_x64(True):  # float32 rounding, not the algorithm, would set the tolerance
        opt = sfp.schedule_free_prodigy(0.01, 5.0)
        params = jnp.asarray(start)
        state = opt.init(params)
        step = jax.jit(opt.update)
        for x_ref, d_ref in reference:
            updates, state = step(jnp.asarray(grad(np.asarray(params))), state, params)
            params = optax.apply_updates(params, updates)
            np.testing.assert_allclose(sfp.eval_params(state, params), x_ref, rtol=1e-5, atol=1e-8)
            assert float(state.d) == pytest.approx(d_ref, rel=1e-6)
        assert float(state.d) > 100 * sfp.D0  # the estimate grew, so the test saw it move


@pytest.mark.parametrize(
    "name", ["schedule_free_adamw", "cyclic_lr", "lawa_ema", "lawa_queue", "schedule_free_prodigy"]
)
def test_every_re_expression_steps_and_evaluates_on_the_same_tree(name):
    module = importlib.import_module(f"submissions.leaderboard_v05.{name}")
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    hparams = {k: jnp.asarray(v, jnp.float32) for k, v in module.HPARAMS.items()}
    opt = module.make_optimizer(hparams, 100)
    state = opt.init(params)
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    for _ in range(3):
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    assert any(float(jnp.abs(p - 1.0).max()) > 0 for p in jax.tree.leaves(params))
    shown = module.eval_params(state, params) if hasattr(module, "eval_params") else params
    assert jax.tree.structure(shown) == jax.tree.structure(params)
