"""SGD-HD, SGDN-HD and Adam-HD against an independent NumPy version of the
paper's rules (Baydin et al. 2018): alpha trajectory and parameters."""

import jax
import numpy as np
import optax
import pytest

from algoperf_lite.optim.hypergradient import current_learning_rate
from submissions import adam_hd, sgd_hd

STEPS = 120


def numpy_hd(
    params, grads, rule, alpha0, beta, wd, mu=0.0, b1=0.9, b2=0.999, eps=1e-8, multiplicative=False
):
    theta = np.concatenate([p.ravel() for p in params]).astype(np.float64)
    alpha, prev_d = alpha0, np.zeros_like(theta)
    buf, m, v = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta)
    alphas, thetas = [], []
    for t, g_parts in enumerate(grads, start=1):
        g = np.concatenate([x.ravel() for x in g_parts]).astype(np.float64) + wd * theta
        if multiplicative:
            norm = np.linalg.norm(g) * np.linalg.norm(prev_d)
            alpha = alpha * (1 + beta * (g @ prev_d / norm if norm > 0 else 0.0))
        else:
            alpha = alpha + beta * (g @ prev_d)
        if rule == "sgd":  # SGD-HD: d = g; SGDN-HD: Nesterov
            buf = mu * buf + g
            d = g + mu * buf
        else:  # Adam-HD
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            d = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        theta = theta - alpha * d
        prev_d = d
        alphas.append(alpha)
        thetas.append(theta.copy())
    return np.array(alphas), np.array(thetas)


def run(tx, params, grads):
    state = tx.init(params)

    @jax.jit
    def step(params, state, g):
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state

    alphas, thetas = [], []
    for g in grads:
        params, state = step(params, state, g)
        alphas.append(float(current_learning_rate(state)))
        thetas.append(np.concatenate([np.asarray(p).ravel() for p in params]))
    return np.array(alphas), np.array(thetas)


def problem(seed):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(5,)).astype(np.float32)]
    drift = [rng.normal(size=p.shape) for p in params]  # correlated gradients move alpha
    grads = [
        [(0.5 * d + rng.normal(size=d.shape)).astype(np.float32) for d in drift]
        for _ in range(STEPS)
    ]
    return params, grads


CASES = {
    "SGD-HD": (sgd_hd, "sgd", {"momentum": 0.0}),
    "SGDN-HD": (sgd_hd, "sgd", {"momentum": 0.9}),
    "SGD-HD multiplicative": (sgd_hd, "sgd", {"multiplicative": 1.0, "hypergradient_lr": 0.02}),
    "Adam-HD": (adam_hd, "adam", {"hypergradient_lr": 1e-4}),
    "Adam-HD multiplicative": (adam_hd, "adam", {"multiplicative": 1.0, "hypergradient_lr": 0.02}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_the_papers_rule(case):
    module, rule, override = CASES[case]
    hp = {**module.HPARAMS, "weight_decay": 1e-2, **override}
    params, grads = problem(list(CASES).index(case))
    ours_alpha, ours_theta = run(module.make_optimizer(hp, 100), params, grads)
    ref_alpha, ref_theta = numpy_hd(
        params,
        grads,
        rule,
        hp["learning_rate"],
        hp["hypergradient_lr"],
        hp["weight_decay"],
        mu=hp.get("momentum", 0.0),
        b1=1 - hp.get("one_minus_beta1", 0.1),
        b2=hp.get("beta2", 0.999),
        eps=hp.get("epsilon", 1e-8),
        multiplicative=bool(hp["multiplicative"]),
    )
    assert ours_alpha[0] == pytest.approx(hp["learning_rate"])  # no change at step 1
    assert np.abs(ref_alpha - hp["learning_rate"]).max() > 0.1 * hp["learning_rate"]  # it moved
    np.testing.assert_allclose(ours_alpha, ref_alpha, rtol=1e-5)
    rel = np.linalg.norm(ours_theta - ref_theta, axis=1) / np.linalg.norm(ref_theta, axis=1)
    assert rel.max() < 1e-5
