"""TFDS workloads through their real reading path (``tfds.data_source``),
with data from ``tfds.testing.mock_data``; and the messages when data are absent."""

import dataclasses
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from algoperf_lite import cli, load_submission, run_trial
from workloads import WORKLOADS, describe, suite, tfds_suite

TFDS = [w.name for w in suite("tfds")]


@pytest.mark.slow
@pytest.mark.parametrize("name", TFDS)
def test_tfds_workload_trains_on_mock_data(name):
    base = WORKLOADS[name]
    # Small stand-ins for the real sizes: batch 4, one eval after 2 steps.
    w = dataclasses.replace(base, batch_size=4, step_hint=2, eval_every=2, eval_batch_size=16)
    with tfds.testing.mock_data(num_examples=200):
        splits = base.load_splits.__wrapped__()
        assert set(splits) == {"train", "validation", "test"}
        x, y = splits["train"]
        assert len(x) == len(y) > 4
        if base.input_spec is not None:
            assert x.shape[1:] == base.input_spec[0] and x.dtype == np.dtype(base.input_spec[1])
        # The registry's cached loader is bypassed so real data never meet mock data.
        w = dataclasses.replace(w, load_splits=lambda: splits)
        result = run_trial(w, load_submission("nadamw"), seed=0)
    row = result.rows[-1]
    assert result.steps == 2 and math.isfinite(row["train/loss"])
    assert math.isfinite(row[base.metric_column])
    meta = describe(base)
    assert meta["suite"] == "tfds" and meta["target_provisional"] and meta["parameters"] > 0


def test_augmentation_translates_and_flips():
    import jax
    import jax.numpy as jnp

    images = jnp.arange(2 * 8 * 8 * 3, dtype=jnp.uint8).reshape(2, 8, 8, 3)
    out = np.asarray(tfds_suite.crop_and_flip(jax.random.PRNGKey(0), images, pad=2))
    assert out.shape == images.shape and out.dtype == images.dtype
    assert not np.array_equal(out, np.asarray(images))
    again = tfds_suite.crop_and_flip(jax.random.PRNGKey(0), images, pad=2)
    np.testing.assert_array_equal(out, again)  # keyed, hence reproducible


def test_missing_data_names_the_prepare_command(tmp_path):
    env = {**os.environ, "TFDS_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "algoperf_lite.cli",
            "run",
            "--workload",
            "mnist_mlp",
            "--submission",
            "nadamw",
            "--output",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "algoperf-lite data prepare mnist" in lines[0]


def test_data_prepare_calls_tfds(capsys):
    with tfds.testing.mock_data(num_examples=2):  # download_and_prepare is a no-op here
        assert cli.main(["data", "prepare", "cifar10_resnet18"]) == 0
    assert "'cifar10' is ready" in capsys.readouterr().out
    assert cli.main(["data", "prepare", "digits_cnn"]) == 2
    assert "bundled data" in capsys.readouterr().err
