"""Checkpoint and resume: a trial killed with SIGKILL ends exactly like one never killed."""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from algoperf_lite import load_submission, run_trial
from algoperf_lite.core import io
from algoperf_lite.train import checkpoints
from algoperf_lite.train.program import compiled_program
from workloads import WORKLOADS

MLP = WORKLOADS["mnist1d_mlp"]


def cli(out, *extra):
    return [
        sys.executable,
        "-m",
        "algoperf_lite.cli",
        "run",
        "--workload",
        "mnist1d_mlp",
        "--submission",
        "nadamw",
        "--seed",
        "3",
        "--output",
        str(out),
        "--checkpoint-every",
        "200",
        *extra,
    ]


def final_state(folder):
    nadamw = load_submission("nadamw")
    hp = nadamw.resolve_hparams()
    names = tuple(sorted(hp))
    program, _ = compiled_program(MLP, nadamw, names, MLP.batch_size)
    point = {k: jax.numpy.float32(hp[k]) for k in names}
    like = program.init(jax.random.PRNGKey(0), point, jax.numpy.zeros((MLP.batch_size, 40)))
    return checkpoints.restore(folder, like)[0]


@pytest.mark.slow
def test_sigkill_then_rerun_gives_identical_metrics_and_parameters(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    trial = io.trial_dir(str(killed), "mnist1d_mlp")
    proc = subprocess.Popen(cli(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if checkpoints.exists(trial):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoints.exists(trial), "no checkpoint was written before the kill"
    assert not io.is_finished(trial), "killed too late"
    subprocess.run(cli(killed, "--resume"), check=True, capture_output=True, timeout=300)
    subprocess.run(cli(clean), check=True, capture_output=True, timeout=300)

    a = io.read_json(os.path.join(trial, io.RESULT_FILE))
    b = io.read_json(os.path.join(io.trial_dir(str(clean), "mnist1d_mlp"), io.RESULT_FILE))
    assert a["preemption_count"] == 1 and b["preemption_count"] == 0
    for key in ("status", "steps", "steps_to_target", "best_validation", "final"):
        assert a[key] == b[key], key
    state_a = final_state(trial)
    state_b = final_state(io.trial_dir(str(clean), "mnist1d_mlp"))
    for x, y in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_resume_without_a_checkpoint_is_refused(tmp_path, capsys):
    from algoperf_lite.cli import main

    code = main(
        [
            "run",
            "--workload",
            "mnist1d_mlp",
            "--submission",
            "nadamw",
            "--resume",
            "--output",
            str(tmp_path),
        ]
    )
    assert code == 2 and "nothing to resume" in capsys.readouterr().err


def test_out_of_memory_is_a_result(tmp_path, monkeypatch, nadamw):
    """Fault injection: the device runs out of memory mid-trial."""
    program, _ = compiled_program(MLP, nadamw, tuple(sorted(nadamw.hparams)), MLP.batch_size)
    used = "steps" if program.steps is not None else "step"  # the training program run
    real_step, calls = getattr(program, used), []

    def step(*args):
        calls.append(1)
        if len(calls) > 3:  # mid-trial, whatever the chunk lengths
            raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 1GiB")
        return real_step(*args)

    monkeypatch.setattr(program, used, step)
    folder = str(tmp_path / "trial")
    result = run_trial(MLP, nadamw, seed=0, output_dir=folder)
    assert result.status == "out_of_memory" and result.stopped_by == "out_of_memory"
    assert io.read_json(os.path.join(folder, io.RESULT_FILE))["status"] == "out_of_memory"


def test_other_runtime_errors_are_not_swallowed(monkeypatch, nadamw):
    program, _ = compiled_program(MLP, nadamw, tuple(sorted(nadamw.hparams)), MLP.batch_size)

    def step(*args):
        raise jax.errors.JaxRuntimeError("INTERNAL: something else")

    monkeypatch.setattr(program, "steps" if program.steps is not None else "step", step)
    with pytest.raises(jax.errors.JaxRuntimeError, match="INTERNAL"):
        run_trial(MLP, nadamw, seed=0, max_steps=20)


def test_killed_after_the_final_checkpoint_does_not_train_on(tmp_path):
    folder = str(tmp_path / "trial")
    # The target-setting point, so that the trial reaches the target before its budget.
    nadamw = load_submission(MLP.provenance["winner"]["submission"])
    point = MLP.provenance["best_hparams"]
    first = run_trial(MLP, nadamw, point, seed=0, output_dir=folder, checkpoint_every=500)
    assert first.status == "target_reached" and first.steps < MLP.step_hint
    running = {**io.read_json(os.path.join(folder, io.RESULT_FILE)), "status": io.RUNNING}
    io.write_json(os.path.join(folder, io.RESULT_FILE), running)  # as if killed right then
    again = run_trial(MLP, nadamw, point, seed=0, output_dir=folder, checkpoint_every=500)
    assert (again.steps, again.steps_to_target, again.final) == (
        first.steps,
        first.steps_to_target,
        first.final,
    )
    assert again.preemption_count == 1 and not again.skipped
