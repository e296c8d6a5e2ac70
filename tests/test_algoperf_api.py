"""Submissions written to AlgoPerf's API run on our workloads."""

import os

import jax
import numpy as np
import pytest

from algoperf_lite import load_submission, run_trial
from algoperf_lite.algoperf_api.spec import ParameterType, ShapeTuple
from algoperf_lite.algoperf_api.workload import AlgoPerfWorkload
from submissions import nadamw
from workloads import get_workload

EXAMPLE = os.path.join("submissions", "algoperf_api", "nadamw_api.py")


def test_api_example_follows_the_native_nadamw_trajectory():
    # Same rule, keys and batch order: only the driver differs (Python loop vs fused step).
    w = get_workload("mnist1d_mlp")
    hp = {**nadamw.HPARAMS, "dropout_rate": 0.0}
    api = run_trial(w, load_submission(EXAMPLE), hp, seed=3, max_steps=300)
    native = run_trial(w, load_submission("nadamw"), hp, seed=3, max_steps=300)
    assert load_submission(EXAMPLE).api is not None
    got = [r["validation/loss"] for r in api.rows]
    want = [r["validation/loss"] for r in native.rows]
    np.testing.assert_allclose(got, want, rtol=1e-5)


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
    from algoperf_lite.algoperf_api.spec import ForwardPassMode

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
