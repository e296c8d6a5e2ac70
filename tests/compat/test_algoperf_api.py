"""Submissions written to AlgoPerf's API run on our workloads."""

import dataclasses
import os

import jax
import numpy as np
import pytest

from algoperf_lite import load_submission, run_trial
from algoperf_lite.compat.algoperf.group import CompileClock
from algoperf_lite.compat.algoperf.spec import ParameterType, ShapeTuple
from algoperf_lite.compat.algoperf.workload import AlgoPerfWorkload
from submissions import nadamw
from workloads import get_workload

EXAMPLE = os.path.join("submissions", "algoperf_api", "nadamw_api.py")


# Two compiled programs round differently and training amplifies it: relative
# loss differences of about 1e-7 at step 100 grew to 5e-5 (one CPU) or 1e-3 (another)
# by step 300, dropout or not. So curves are compared over 100 steps, evaluated often.
STEPS = 100


def test_api_example_follows_the_native_nadamw_trajectory():
    # Same rule, keys and batch order: only the driver differs (Python loop vs fused step).
    w = dataclasses.replace(get_workload("mnist1d_mlp"), eval_every=STEPS // 4)
    hp = {**nadamw.HPARAMS, "dropout_rate": 0.0}
    api = run_trial(w, load_submission(EXAMPLE), hp, seed=3, max_steps=STEPS)
    native = run_trial(w, load_submission("nadamw"), hp, seed=3, max_steps=STEPS)
    assert load_submission(EXAMPLE).api is not None
    got = [r["validation/loss"] for r in api.rows]
    want = [r["validation/loss"] for r in native.rows]
    assert len(want) == 4
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_api_file_and_native_twin_agree_with_dropout_on():
    # Same seed and point: the update key an API file gets is the native dropout key.
    w = dataclasses.replace(get_workload("mnist1d_mlp"), eval_every=STEPS // 4)
    hp = {**nadamw.HPARAMS, "dropout_rate": 0.2, "label_smoothing": 0.1}

    def curve(submission, workload=w, **kw):
        point = kw.pop("hp", hp)
        result = run_trial(workload, load_submission(submission), point, seed=5, **kw)
        return result, [r["validation/loss"] for r in result.rows]

    native, want = curve("nadamw", max_steps=STEPS, stop_at_target=False)
    _, got = curve(EXAMPLE, max_steps=STEPS, stop_at_target=False)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    _, without = curve("nadamw", hp={**hp, "dropout_rate": 0.0}, max_steps=STEPS)
    assert not np.allclose(without, want, rtol=1e-3)  # dropout is on and matters
    # A target first reached at the last evaluation: both paths reach it there, not before.
    value = native.rows[-1][w.metric_column]
    assert not any(w.reached(r[w.metric_column], value) for r in native.rows[:-1])
    reached = dataclasses.replace(w, validation_target=value)
    twin, _ = curve("nadamw", workload=reached, max_steps=2 * STEPS)
    api, _ = curve(EXAMPLE, workload=reached, max_steps=2 * STEPS)
    assert api.steps_to_target == twin.steps_to_target == STEPS


def test_an_api_files_own_compiles_stay_off_its_clock():
    # Every compile JAX reports during the trial is compile time, none submission time.
    heard = []

    def listen(event, duration, **_):
        if event in CompileClock.EVENTS:
            heard.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        w = get_workload("digits_logreg")
        result = run_trial(w, load_submission(EXAMPLE), nadamw.HPARAMS, seed=1, max_steps=60)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    # Most of what JAX compiled is on the compile clock (what it compiled while
    # loading the file and its data is not the trial's; with the file's compiles
    # on the training clock the share was 0.15).
    assert result.compile_time_sec >= 0.5 * sum(heard)
    # 60 steps of logistic regression run far faster than the file's jit compiles
    # (on the 2-core CPU: 0.44 s against 8.9 s; with compiles on the clock, 4.1 s).
    assert result.submission_time_sec < sum(heard) / 4


def test_api_example_reaches_an_offline_target(tmp_path):
    w = get_workload("digits_logreg")
    result = run_trial(
        w, load_submission(EXAMPLE), w.provenance["best_hparams"], seed=0, output_dir=str(tmp_path)
    )
    assert result.status == "target_reached", result.summary()
    assert (tmp_path / "eval_measurements.csv").exists()


def test_workload_adapter_methods():
    api = AlgoPerfWorkload(get_workload("digits_cnn"))
    with pytest.raises(ValueError, match="init_model_fn"):
        _ = api.param_shapes
    params, model_state = api.init_model_fn(jax.random.PRNGKey(0))
    assert "batch_stats" in model_state
    assert api.param_shapes["Conv_0"]["kernel"] == ShapeTuple((3, 3, 1, 16))
    types = api.model_params_types
    assert types["Conv_0"]["kernel"] == ParameterType.CONV_WEIGHT
    assert types["BatchNorm_0"]["scale"] == ParameterType.BATCH_NORM_SCALE
    assert types["Dense_1"]["bias"] == ParameterType.BIAS
    x, y = get_workload("digits_cnn").load_splits()["validation"]
    batch = {"inputs": x[:8], "targets": y[:8]}
    from algoperf_lite.compat.algoperf.spec import ForwardPassMode

    rng = jax.random.PRNGKey(1)
    logits, same = api.model_fn(params, batch, model_state, ForwardPassMode.EVAL, rng, False)
    assert logits.shape == (8, 10) and same is model_state
    _, updated = api.model_fn(params, batch, model_state, ForwardPassMode.TRAIN, rng, True)
    moved = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), updated, model_state)
    assert max(jax.tree.leaves(moved)) > 0  # batch-norm statistics updated in training
    mask = np.array([1, 1, 1, 1, 0, 0, 0, 0], np.float32)
    loss = api.loss_fn(batch["targets"], logits, mask)
    assert float(loss["n_valid_examples"]) == 4
    np.testing.assert_allclose(loss["summed"], loss["per_example"][:4].sum(), rtol=1e-6)


def test_transformer_parameter_types():
    api = AlgoPerfWorkload(get_workload("char_lm_transformer"))
    api.init_model_fn(jax.random.PRNGKey(0))
    types = api.model_params_types
    assert types["embed"]["embedding"] == ParameterType.EMBEDDING
    block = types["CausalSelfAttention_0"]
    assert block["qkv"]["kernel"] == ParameterType.ATTENTION_QKV
    assert block["out"]["bias"] == ParameterType.ATTENTION_BIAS
    assert types["LayerNorm_0"]["scale"] == ParameterType.LAYER_NORM_SCALE


def test_batch_size_falls_back_when_the_file_knows_only_algoperf_workloads(tmp_path):
    source = (
        open(EXAMPLE)
        .read()
        .replace(
            "    del workload_name\n    return 128",
            "    raise ValueError(f'Unsupported workload name: {workload_name}.')",
        )
    )
    assert "Unsupported workload" in source
    path = tmp_path / "algoperf_style.py"
    path.write_text(source)
    submission = load_submission(str(path))
    digits = get_workload("digits_cnn")
    assert submission.batch_size(digits) == digits.batch_size == 16


DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")


def _small(name="digits_logreg", steps=12, every=4):
    import dataclasses

    return dataclasses.replace(
        get_workload(name), step_hint=steps, eval_every=every, validation_target=None
    )


def test_train_state_is_passed_only_to_files_that_take_it():
    with_it = load_submission(os.path.join(DATA, "api_train_state.py"))
    result = run_trial(_small(), with_it, seed=0)
    given = with_it.api.GIVEN
    assert result.steps == 12 and len(given) == 12
    assert set(given[0]) == {
        "validation_goal_reached",
        "test_goal_reached",
        "is_time_remaining",
        "last_eval_time",
        "training_complete",
        "accumulated_submission_time",
        "accumulated_eval_time",
        "accumulated_logging_time",
        "last_step_end_time",
    }
    times = [g["accumulated_submission_time"] for g in given]
    assert times == sorted(times) and times[-1] > 0  # the clock so far, as AlgoPerf's
    # The file called jax.tree_map (gone from this JAX) while it ran; afterwards
    # JAX is as it was.
    assert not hasattr(jax, "tree_map")
    # A file without the parameter is not handed one (it would fail if it were).
    without = load_submission(os.path.join(DATA, "api_hooks.py"))
    assert run_trial(_small(), without, seed=0).steps == 12


def test_prepare_for_eval_results_are_trained_on():
    sub = load_submission(os.path.join(DATA, "api_hooks.py"))
    sub.api.SEEN.clear()
    run_trial(_small(), sub, seed=0)
    # Evaluations after steps 4 and 8 each returned a new state; the steps after
    # them were given it.
    assert sub.api.SEEN == [(s, s // 4) for s in range(12)]


def test_training_complete_error_ends_training_with_a_last_evaluation(tmp_path):
    sub = load_submission(os.path.join(DATA, "api_hooks.py"))
    hp = {**sub.api.HPARAMS, "stop_at": 6}
    result = run_trial(_small(), sub, hp, seed=0, output_dir=str(tmp_path))
    assert result.stopped_by == "training_complete" and result.status == "missed"
    # AlgoPerf counts the step that raised, then evaluates once more.
    assert result.steps == 7 and [r["global_step"] for r in result.rows] == [4, 7]
    assert (tmp_path / "result.json").exists()


def test_booleans_strings_and_integers_reach_an_api_file_as_they_are(tmp_path):
    import json

    from algoperf_lite.tuning import study as tuning

    sub = load_submission(os.path.join(DATA, "api_static_hparams.py"))
    assert sub.hparams == {}  # no HPARAMS: its own search space names everything
    space = {
        "learning_rate": {"min": 0.05, "max": 0.2, "scaling": "log"},
        "nesterov": {"feasible_points": [True, False]},
        "style": {"feasible_points": ["plain", "reduced"]},
        "warmup_steps": {"feasible_points": [2, 3]},
    }
    path = tmp_path / "space.json"
    path.write_text(json.dumps(space))
    jobs = tuning.plan_jobs(_small(), sub, str(path), trials=4, studies=1)
    assert {type(j["hparams"]["nesterov"]) for j in jobs} == {bool}
    assert {j["hparams"]["style"] for j in jobs} <= {"plain", "reduced"}
    sub.api.SEEN.clear()
    for job in jobs[:2]:
        result = run_trial(_small(), sub, job["hparams"], seed=job["seed"])
        assert result.steps == 12 and np.isfinite(result.final["train/loss"])
    assert [s["style"] for s in sub.api.SEEN] == [j["hparams"]["style"] for j in jobs[:2]]
    # A native submission still refuses a non-number.
    with pytest.raises(Exception, match="must be a number"):
        load_submission("nadamw").resolve_hparams({"learning_rate": "fast"})


def test_a_pmap_era_file_trains_on_replicated_state_and_follows_its_jit_twin():
    from algoperf_lite.compat.algoperf.group import uses_pmap

    pmapped = load_submission(os.path.join(DATA, "api_pmap.py"))
    jitted = load_submission(os.path.join(DATA, "api_train_state.py"))  # the same plain SGD
    assert uses_pmap(pmapped.api) and not uses_pmap(jitted.api)
    a = run_trial(_small(steps=20, every=5), pmapped, seed=1)
    b = run_trial(_small(steps=20, every=5), jitted, seed=1)
    assert a.steps == b.steps == 20
    np.testing.assert_allclose(
        [r["validation/loss"] for r in a.rows], [r["validation/loss"] for r in b.rows], rtol=1e-5
    )


def test_replicated_workload_has_a_device_axis():
    api = AlgoPerfWorkload(get_workload("digits_logreg"), replicated=True)
    params, _ = api.init_model_fn(jax.random.PRNGKey(0))
    devices = jax.local_device_count()
    for leaf, shape in zip(jax.tree.leaves(params), jax.tree.leaves(api.param_shapes), strict=True):
        assert leaf.shape == (devices, *shape.shape_tuple)
    batch = next(api._build_input_queue(jax.random.PRNGKey(0), "train", None, 8 * devices))
    assert batch["inputs"].shape[:2] == (devices, 8)


def test_files_of_the_v05_era_import_algoperf_by_its_old_name(tmp_path):
    # AlgoPerf's package was algorithmic_efficiency until its rename; v0.5 files use it.
    with open(EXAMPLE) as f:
        source = f.read()
    old = source.replace("from algoperf import", "from algorithmic_efficiency import")
    assert old != source
    path = tmp_path / "old_name.py"
    path.write_text(old)
    w = get_workload("digits_logreg")
    got = run_trial(w, load_submission(str(path)), nadamw.HPARAMS, seed=0, max_steps=100)
    want = run_trial(w, load_submission(EXAMPLE), nadamw.HPARAMS, seed=0, max_steps=100)
    assert [r["validation/loss"] for r in got.rows] == [r["validation/loss"] for r in want.rows]


def test_a_file_in_a_package_imports_its_neighbours_relatively(tmp_path):
    # AlgoPerf imports a submission by its dotted path, so `from .helper import` works;
    # the package is named apart, so even a folder called `submissions` cannot shadow ours.
    with open(EXAMPLE) as f:
        source = f.read()
    package = tmp_path / "submissions" / "entry"
    package.mkdir(parents=True)
    (tmp_path / "submissions" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("from ..shared import NAME\nSHIFT = NAME\n")
    (tmp_path / "submissions" / "shared.py").write_text("NAME = 'relative'\n")
    (package / "submission.py").write_text(
        "from .helper import SHIFT\nassert SHIFT == 'relative'\n" + source
    )
    loaded = load_submission(str(package / "submission.py"))
    assert loaded.api is not None
    assert load_submission("nadamw").name == "nadamw"  # ours is still ours
    w = get_workload("digits_logreg")
    got = run_trial(w, loaded, nadamw.HPARAMS, seed=0, max_steps=50)
    want = run_trial(w, load_submission(EXAMPLE), nadamw.HPARAMS, seed=0, max_steps=50)
    assert [r["validation/loss"] for r in got.rows] == [r["validation/loss"] for r in want.rows]


def test_an_api_file_whose_loss_overflows_is_recorded_as_diverged(tmp_path):
    # The accuracy stays finite while the loss is not: that still is a divergence,
    # and the result file (JSON has no NaN) is written, not crashed on.
    hp = {**nadamw.HPARAMS, "learning_rate": 1e30}
    w = get_workload("digits_logreg")
    got = run_trial(
        w, load_submission(EXAMPLE), hp, seed=0, max_steps=200, output_dir=str(tmp_path)
    )
    assert (got.status, got.stopped_by) == ("diverged", "divergence")
    assert got.steps < 200 and got.final["validation/loss"] is None
    assert got.final["validation/accuracy"] >= 0.0
    assert '"status": "diverged"' in (tmp_path / "result.json").read_text()
