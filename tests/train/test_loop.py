"""Runner semantics: targets, divergence, budgets, compilation, determinism, output."""

import csv
import dataclasses
import json
import os

import jax
import numpy as np
import pytest

from algoperf_lite import UserError, load_submission, run_trial
from algoperf_lite.core import io
from algoperf_lite.train.program import compiled_program
from algoperf_lite.train.step import TrialState
from workloads import WORKLOADS

HERE = os.path.dirname(os.path.dirname(__file__))
ALGOPERF_COLUMNS = ["global_step", "score", "total_duration", "accumulated_eval_time", "train/loss"]


def count_compiles():
    events = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, *a, **k: (
            events.append(name) if name.endswith("backend_compile_duration") else None
        )
    )
    return events


def test_target_detection_records_the_first_eval_at_target(mlp, nadamw):
    baseline = run_trial(mlp, nadamw, seed=0, max_steps=300, stop_at_target=False)
    values = [r[mlp.metric_column] for r in baseline.rows]
    target = values[1]  # reached at the second eval at the latest
    first = next(r["global_step"] for r in baseline.rows if r[mlp.metric_column] >= target)
    easy = dataclasses.replace(mlp, validation_target=target)
    result = run_trial(easy, nadamw, seed=0, max_steps=300)
    assert result.status == "target_reached" and result.stopped_by == "target"
    assert result.steps_to_target == first == result.steps
    assert result.grad_evals_to_target == first
    assert result.time_to_target == pytest.approx(result.rows[-1]["score"])
    assert 0 < result.time_to_target <= result.total_duration_sec


def test_lower_is_better_metric(nadamw):
    digits = WORKLOADS["digits_cnn"]
    assert not digits.higher_is_better
    loose = dataclasses.replace(digits, validation_target=10.0)  # any finite loss is below
    result = run_trial(loose, nadamw, seed=0, max_steps=digits.eval_every * 2)
    assert result.status == "target_reached" and result.steps_to_target == digits.eval_every
    strict = dataclasses.replace(digits, validation_target=0.0)
    assert run_trial(strict, nadamw, seed=0, max_steps=digits.eval_every).status == "missed"


def test_divergence_is_a_result_not_a_crash(mlp, tmp_path):
    poisoned = load_submission(os.path.join(HERE, "data", "nan_after_3.py"))
    folder = str(tmp_path / "trial")
    result = run_trial(mlp, poisoned, seed=0, max_steps=200, sync_every=1, output_dir=folder)
    assert result.status == "diverged" and result.stopped_by == "divergence"
    assert result.steps == 5  # updates 4 on are NaN; the loss of step 5 shows it
    assert io.read_json(os.path.join(folder, io.RESULT_FILE))["status"] == "diverged"


def test_step_budget_is_exact(mlp, nadamw):
    result = run_trial(mlp, nadamw, seed=0, max_steps=37)
    assert result.steps == 37 and result.status == "missed" and result.stopped_by == "step_budget"
    assert result.rows[-1]["global_step"] == 37  # a final eval at the budget


def test_time_budget_is_checked_between_evals(mlp, nadamw):
    result = run_trial(mlp, nadamw, seed=0, max_seconds=1e-9, sync_every=7)
    assert result.stopped_by == "time_budget" and result.steps == 7 and result.rows == []


def test_second_trial_with_other_hparams_does_not_recompile(mlp, nadamw):
    run_trial(mlp, nadamw, seed=0, max_steps=20)
    events = count_compiles()
    other = {"learning_rate": 0.01, "dropout_rate": 0.3, "label_smoothing": 0.2, "beta2": 0.9}
    result = run_trial(mlp, nadamw, other, seed=5, max_steps=20)
    assert events == [] and not result.compiled and result.compile_time_sec == 0.0


def test_first_trial_reports_compile_time_apart(nadamw):
    fresh = dataclasses.replace(WORKLOADS["mnist1d_mlp"])  # a new object: compiles anew
    events = count_compiles()
    result = run_trial(fresh, nadamw, seed=0, max_steps=10)
    assert result.compiled and result.compile_time_sec > 0 and len(events) >= 1
    assert result.submission_time_sec < result.compile_time_sec + result.total_duration_sec


def test_same_seed_same_numbers_other_seed_other_numbers(mlp, nadamw):
    a = run_trial(mlp, nadamw, seed=3, max_steps=200)
    b = run_trial(mlp, nadamw, seed=3, max_steps=200)
    c = run_trial(mlp, nadamw, seed=4, max_steps=200)
    metrics = lambda r: [{k: v for k, v in row.items() if "/" in k} for row in r.rows]
    assert metrics(a) == metrics(b)
    assert metrics(a) != metrics(c)


def test_regularizers_reach_the_loss_and_the_model(mlp, nadamw):
    """Same compiled step; dropout and label smoothing change the training loss."""
    hp = nadamw.resolve_hparams({"dropout_rate": 0.0, "label_smoothing": 0.0})
    names = tuple(sorted(hp))
    program, _ = compiled_program(mlp, nadamw, names, mlp.batch_size)
    x, y = (jax.numpy.asarray(a) for a in mlp.load_splits()["train"])
    sample = jax.numpy.zeros((mlp.batch_size, *x.shape[1:]))

    def first_loss(**override):
        point = {k: jax.numpy.float32({**hp, **override}[k]) for k in names}
        state = program.init(jax.random.PRNGKey(0), point, sample)
        return float(program.step(state, point, x, y)[1])

    base = first_loss()
    assert first_loss() == base
    assert first_loss(dropout_rate=0.5) != base
    assert first_loss(label_smoothing=0.3) != base


def test_batch_norm_statistics_are_trial_state(nadamw):
    digits = WORKLOADS["digits_cnn"]
    hp = nadamw.resolve_hparams()
    names = tuple(sorted(hp))
    program, _ = compiled_program(digits, nadamw, names, digits.batch_size)
    x, y = (jax.numpy.asarray(a) for a in digits.load_splits()["train"])
    point = {k: jax.numpy.float32(hp[k]) for k in names}
    state = program.init(jax.random.PRNGKey(0), point, x[: digits.batch_size])
    assert isinstance(state, TrialState) and "batch_stats" in state.model_state
    before = [np.array(a) for a in jax.tree.leaves(state.model_state)]  # the step donates state
    state, _ = program.step(state, point, x, y)
    after = jax.tree.leaves(state.model_state)
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))


def test_output_layout_atomic_files_and_skip(mlp, nadamw, tmp_path):
    folder = io.trial_dir(str(tmp_path), mlp.name, trial=1)
    assert folder.endswith(os.path.join("study_0", "mnist1d_mlp_jax", "trial_1"))
    result = run_trial(
        mlp, nadamw, {"learning_rate": 0.004}, seed=1, max_steps=250, output_dir=folder
    )
    assert sorted(os.listdir(folder)) == ["eval_measurements.csv", "hparams.json", "result.json"]
    assert io.read_json(os.path.join(folder, "hparams.json"))["learning_rate"] == 0.004
    with open(os.path.join(folder, "eval_measurements.csv")) as f:
        rows = list(csv.DictReader(f))
    assert set(ALGOPERF_COLUMNS) <= set(rows[0])
    assert {"validation/accuracy", "test/accuracy"} <= set(rows[0])
    assert [int(r["global_step"]) for r in rows] == [100, 200, 250]
    assert all(float(a["score"]) <= float(b["score"]) for a, b in zip(rows, rows[1:], strict=False))
    stored = json.load(open(os.path.join(folder, "result.json")))
    assert stored["status"] == result.status and stored["seed"] == 1
    assert {"jax", "flax", "optax"} <= set(stored["versions"])

    again = run_trial(
        mlp, nadamw, {"learning_rate": 0.004}, seed=1, max_steps=250, output_dir=folder
    )
    assert again.skipped and again.best_validation == result.best_validation
    with pytest.raises(UserError, match="different finished trial"):
        run_trial(mlp, nadamw, {"learning_rate": 0.005}, seed=1, max_steps=250, output_dir=folder)


def test_unfinished_trial_folder_is_rerun(mlp, nadamw, tmp_path):
    folder = str(tmp_path / "t")
    os.makedirs(folder)
    with open(os.path.join(folder, io.MEASUREMENTS_FILE), "w") as f:
        f.write("global_step,score\n10,0.1\n")  # a crash left this, but no result.json
    result = run_trial(mlp, nadamw, seed=0, max_steps=100, output_dir=folder)
    assert not result.skipped and os.path.exists(os.path.join(folder, io.RESULT_FILE))


def test_unwritable_output_fails_before_training(mlp, nadamw, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="cannot be written"):
        run_trial(mlp, nadamw, seed=0, max_steps=5, output_dir=str(blocker / "sub"))


@pytest.mark.parametrize("fuse", [True, False])
def test_long_chunks_stop_a_diverging_trial_where_short_ones_do(tmp_path, fuse):
    # Default chunks grow to about SYNC_SECONDS of steps; a trial that diverges
    # inside a long one is replayed in SYNC_STEPS chunks, so it stops where a
    # trial synced every SYNC_STEPS (and a vmapped one) stops. Dispatched per
    # step, the state is donated: the replay starts from a copy.
    from algoperf_lite.train import loop
    from algoperf_lite.train import step as steps

    with open(
        os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "nan_after_3.py")
    ) as f:
        source = f.read()
    late = tmp_path / "nan_after_157.py"
    late.write_text(source.replace("count >= 3", "count >= 157"))
    poisoned = load_submission(str(late))
    w = dataclasses.replace(WORKLOADS["digits_logreg"], eval_every=400)
    chunks = []
    real_advance = steps.advance

    def advance(program, state, hparams, x, y, step, stop):
        chunks.append(stop - step)
        return real_advance(program, state, hparams, x, y, step, stop)

    steps.advance = advance
    try:
        adaptive = run_trial(w, poisoned, seed=0, max_steps=400, fuse=fuse)
    finally:
        steps.advance = real_advance
    short = run_trial(w, poisoned, seed=0, max_steps=400, sync_every=loop.SYNC_STEPS, fuse=fuse)
    assert max(chunks) > loop.SYNC_STEPS  # a long chunk ran, and was replayed
    assert adaptive.status == short.status == "diverged"
    assert adaptive.steps == short.steps == 160


def test_evaluation_cost_is_reported_as_a_share_of_training(tmp_path, mlp, nadamw):
    result = run_trial(mlp, nadamw, seed=0, max_steps=200, output_dir=str(tmp_path))
    assert result.eval_share == pytest.approx(result.eval_time_sec / result.submission_time_sec)
    assert 0 < result.eval_share
    assert io.read_json(str(tmp_path / io.RESULT_FILE))["eval_share"] == result.eval_share
