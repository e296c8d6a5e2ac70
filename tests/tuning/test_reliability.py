"""Crash safety under kills at random moments, and the scorer's integrity checks."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from algoperf_lite import UserError, load_submission
from algoperf_lite.analysis.scoring import score
from algoperf_lite.core import io
from algoperf_lite.tuning import sweeps
from algoperf_lite.tuning.search_space import default_space
from algoperf_lite.tuning.study import tune
from workloads import WORKLOADS

MLP = WORKLOADS["mnist1d_mlp"]
SPACE = [{"learning_rate": lr} for lr in (0.002, 0.004, 0.008, 0.016)]


def kill_at_random(command, rng, low, high):
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(low, high))
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def finished(out):
    done = {}
    for k in range(2):
        for i in range(1, 3):
            folder = io.trial_dir(out, MLP.name, trial=i, study=f"study_{k}")
            if io.is_finished(folder):  # never half-written: it parsed
                done[(k, i)] = os.path.getmtime(os.path.join(folder, io.RESULT_FILE))
    return done


@pytest.mark.slow
def test_tune_killed_at_random_moments_loses_and_duplicates_nothing(tmp_path, tune_command):
    rng = random.Random(20261123)
    out = str(tmp_path / "exp")
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    command = tune_command(out, 2, 2, "--search-space", str(space))
    history = []
    for _ in range(4):
        before = finished(out)
        kill_at_random(command, rng, 1.0, 9.0)
        after = finished(out)
        for key, mtime in before.items():  # finished trials are never redone
            assert after[key] == mtime
        history.append(len(after))
    results = tune(
        [MLP], load_submission("nadamw"), SPACE, output=out, trials=2, studies=2, progress=False
    )
    assert len(results) == 4 and len(finished(out)) == 4
    assert sum(r.skipped for r in results) == history[-1]
    print(f"finished trials after each random kill: {history}")


@pytest.mark.slow
def test_sweep_killed_at_random_moments_has_no_lost_or_duplicate_trials(tmp_path):
    rng = random.Random(7)
    path = str(tmp_path / "sweep.jsonl")
    script = (
        "import sys; from algoperf_lite import load_submission;"
        "from algoperf_lite.tuning import sweeps;"
        "from workloads import WORKLOADS;"
        f"sweeps.run_sweep([WORKLOADS['mnist1d_mlp']], load_submission('sgd'), "
        f"[{{'learning_rate': lr}} for lr in (0.01, 0.02, 0.04, 0.08)], {path!r}, progress=False)"
    )
    for _ in range(3):
        kill_at_random([sys.executable, "-c", script], rng, 2.0, 10.0)
    with open(path, "a") as f:
        f.write('{"workload": "mnist1d_mlp", "po')  # a record cut mid-write
    records = sweeps.run_sweep(
        [MLP],
        load_submission("sgd"),
        [{"learning_rate": lr} for lr in (0.01, 0.02, 0.04, 0.08)],
        path,
        progress=False,
    )
    keys = [(r["workload"], r["point"], r["seed"]) for r in records]
    assert sorted(keys) == [("mnist1d_mlp", i, 0) for i in range(4)]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("exp") / "nadamw")
    tune(
        [MLP],
        load_submission("nadamw"),
        [{"learning_rate": 0.006}],
        output=out,
        trials=1,
        studies=1,
        progress=False,
    )
    return out


def test_scorer_refuses_unfinished_trials(tuned, tmp_path):
    import shutil

    copy = str(tmp_path / "copy")
    shutil.copytree(tuned, copy)
    second = io.trial_dir(copy, MLP.name, trial=2)
    os.makedirs(second)  # killed right after creating its folder
    with pytest.raises(UserError, match="trial_2 is unfinished"):
        score({"copy": copy})
    io.write_json(os.path.join(second, io.RESULT_FILE), {"status": "running"})
    with pytest.raises(UserError, match="trial_2 is unfinished"):
        score({"copy": copy})
    # A first trial killed mid-training: its folder alone is still recognized as ours.
    shutil.rmtree(io.trial_dir(copy, MLP.name, trial=1))
    with open(os.path.join(second, io.MEASUREMENTS_FILE), "w") as f:
        f.write("global_step,validation/accuracy\n100,0.99\n")
    with pytest.raises(UserError, match="unfinished"):
        score({"copy": copy})


def test_scorer_refuses_mixed_definitions_unless_told(tuned, tmp_path):
    import shutil

    other = str(tmp_path / "other")
    shutil.copytree(tuned, other)
    path = os.path.join(io.trial_dir(other, MLP.name), io.RESULT_FILE)
    stored = io.read_json(path)
    stored["target"] = stored["target"] - 0.05  # as if the target had been reset since
    io.write_json(path, stored)
    with pytest.raises(UserError, match="different workload definitions or targets"):
        score({"nadamw": tuned, "other": other})
    assert set(score({"nadamw": tuned, "other": other}, allow_mixed=True).scores) == {
        "nadamw",
        "other",
    }


def test_failed_trials_count_as_misses(tmp_path):
    poisoned = load_submission(
        os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "nan_after_3.py")
    )
    out = str(tmp_path / "poisoned")
    results = tune(
        [MLP], poisoned, [{"learning_rate": 0.1}], output=out, trials=1, studies=1, progress=False
    )
    assert results[0].status == "diverged"
    report = score({"poisoned": out})
    assert report.times["poisoned"][MLP.name] == float("inf") and report.scores["poisoned"] == 0


def test_results_record_integrity_fields(tuned):
    stored = io.read_json(os.path.join(io.trial_dir(tuned, MLP.name), io.RESULT_FILE))
    assert stored["workload_hash"] == MLP.definition_hash
    assert stored["submission_hash"] == load_submission("nadamw").source_hash
    assert {"jax", "flax", "optax"} <= set(stored["versions"]) and "seed" in stored
    assert default_space("nadamw") is not None
