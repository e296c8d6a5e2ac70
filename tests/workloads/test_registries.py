"""Every registered workload and submission meets its contract."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from algoperf_lite import load_submission, run_trial
from algoperf_lite.core.losses import sequence_cross_entropy
from algoperf_lite.core.spec import REGULARIZERS, SPLITS
from algoperf_lite.train.program import compiled_program, device_data
from submissions import SUBMISSIONS
from workloads import WORKLOADS, suite

OFFLINE = [w.name for w in suite("offline")]
VARIANTS = [w.name for w in suite("variants")]


def test_suites_are_populated():
    assert len(OFFLINE) >= 6 and len(VARIANTS) >= 3 and len(suite("tfds")) >= 6
    assert {WORKLOADS[v].variant_of for v in VARIANTS} == set(OFFLINE)  # one per base


@pytest.mark.parametrize("name", OFFLINE + VARIANTS)
def test_workload_declaration_and_splits(name):
    w = WORKLOADS[name]
    assert w.validation_target is not None and w.test_target is not None
    assert w.provenance["best_hparams"] and len(w.provenance["seeds"]) >= 3
    assert w.eval_every <= w.step_hint and w.batch_size > 0
    splits = w.load_splits()
    assert set(splits) == set(SPLITS)
    for x, y in splits.values():
        assert len(x) == len(y) > 0 and np.isfinite(x).all()
    # Fixed and seeded: the registry's arrays equal a fresh load's, and splits are disjoint.
    fresh = w.load_splits.__wrapped__()
    for split in SPLITS:
        np.testing.assert_array_equal(fresh[split][0], splits[split][0])
    train = {x.tobytes() for x in splits["train"][0]}
    shared = sum(x.tobytes() in train for x in splits["validation"][0])
    # Text splits are contiguous, yet short windows of table rules ("-----+---") repeat.
    allowed = 0.06 * len(splits["validation"][0]) if w.loss_fn is sequence_cross_entropy else 0
    assert shared <= allowed


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_submission_declaration(name):
    sub = load_submission(name)
    assert sub.hparams and all(isinstance(v, float) for v in sub.hparams.values())
    assert set(REGULARIZERS) <= set(sub.hparams)
    assert sub.resolve_hparams() == sub.hparams


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_submission_accepts_traced_hparams(name):
    sub = load_submission(name)
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}

    @jax.jit
    def two_steps(hp):
        tx = optax.with_extra_args_support(sub.make_optimizer(hp, 100))
        state = tx.init(params)
        p = params
        grad_fn = lambda q: jax.tree.map(jnp.ones_like, q)  # as the runner supplies it
        for _ in range(2):
            updates, state = tx.update(grad_fn(p), state, p, grad_fn=grad_fn)
            p = jax.tree.map(lambda a, u: a + u, p, updates)
        return p

    hp = {k: jnp.float32(v) for k, v in sub.hparams.items()}
    moved = two_steps(hp)
    assert not np.allclose(moved["w"], params["w"])
    slower = two_steps({**hp, "learning_rate": hp["learning_rate"] / 10})
    assert np.abs(slower["w"] - 1).max() < np.abs(moved["w"] - 1).max()


def initial_train_loss(w, submission) -> float:
    """The training-subset loss of the freshly initialized model (seed 0)."""
    names = tuple(sorted(submission.hparams))
    program, _ = compiled_program(w, submission, names, submission.batch_size(w))
    x = device_data(w).train[0]
    hp = {k: jnp.float32(v) for k, v in submission.hparams.items()}
    state = program.init(jax.random.PRNGKey(0), hp, x[: submission.batch_size(w)])
    metrics = program.evaluate(state.params, state.model_state, *device_data(w).eval_sets["train"])
    return float(metrics["loss"])


@pytest.mark.parametrize(
    "workload, submission",
    [(w, s) for w in OFFLINE for s in SUBMISSIONS] + [(v, "nadamw") for v in VARIANTS],
)
def test_every_submission_trains_every_workload(workload, submission):
    w, sub = WORKLOADS[workload], load_submission(submission)
    result = run_trial(w, sub, seed=0, max_steps=w.eval_every)
    assert result.status in ("missed", "target_reached") and result.steps >= 1
    first = result.rows[0]
    assert math.isfinite(first["train/loss"]) and math.isfinite(first[w.metric_column])
    # Lower than at initialization after one eval period: training does something.
    # (The paper's SGD-HD defaults start slowly on purpose, so no more is asked.)
    assert first["train/loss"] < initial_train_loss(w, sub)


def test_definition_hash_follows_the_code_not_its_imports_docstrings_or_chunks(tmp_path):
    import dataclasses
    import importlib.util
    import sys

    from algoperf_lite.core import spec

    source = '''"""A model."""
import numpy as np


def make(x):
    """Doubles."""
    return 2 * x


SIZES = dict(eval_batch_size=500)
'''
    path = tmp_path / "defined_here.py"
    path.write_text(source)
    module_spec = importlib.util.spec_from_file_location("defined_here", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["defined_here"] = module
    module_spec.loader.exec_module(module)
    try:
        w = dataclasses.replace(WORKLOADS["digits_logreg"], make_model=module.make)
        before = spec.definition_hash(w)

        def reading(text):  # our module as ``text``, the others as they are
            return lambda p: text if p == str(path) else open(p).read()

        moved = source.replace("import numpy as np", "from numpy import ndarray")
        reworded = moved.replace("Doubles.", "Twice x.")  # and a comment below
        same = reworded.replace("return 2 * x", "return 2 * x  # the double")
        assert spec.definition_hash(w, read=reading(same)) == before
        chunks = source.replace("eval_batch_size=500", "eval_batch_size=98")
        assert spec.definition_hash(w, read=reading(chunks)) == before  # memory, not metrics
        changed = source.replace("return 2 * x", "return 3 * x")
        assert spec.definition_hash(w, read=reading(changed)) != before
        assert spec.definition_hash(dataclasses.replace(w, step_hint=w.step_hint + 1)) != before
    finally:
        del sys.modules["defined_here"]


def test_committed_baselines_are_of_the_current_definitions():
    """A change to a workload (or to how its hash is computed) that leaves the
    committed baselines behind would make every ``benchmark`` refuse to score."""
    import glob
    import json
    import os

    root = os.path.join(os.path.dirname(__file__), "..", "..", "results", "baselines")
    found = {}
    for path in glob.glob(os.path.join(root, "*", "study_*", "*_jax", "trial_*", "result.json")):
        with open(path) as f:
            r = json.load(f)
        found.setdefault(r["workload"], set()).add(r["workload_hash"])
    assert set(found) == set(OFFLINE)
    assert {n: h for n, h in found.items()} == {n: {WORKLOADS[n].definition_hash} for n in OFFLINE}
