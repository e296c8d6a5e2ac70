"""Rulesets: which trials run, with which points and seeds; resuming after a kill."""

import os
import signal
import subprocess
import time

import pytest

from algoperf_lite import UserError, load_submission
from algoperf_lite.core import io
from algoperf_lite.tuning.search_space import default_space
from algoperf_lite.tuning.study import plan_jobs, tune
from workloads import WORKLOADS, suite

MLP = WORKLOADS["mnist1d_mlp"]


# A dict space without beta2 (the shipped nadamw space is a list).
BOX = {
    "learning_rate": {"min": 0.0005, "max": 0.02, "scaling": "log"},
    "one_minus_beta1": {"min": 0.02, "max": 0.2, "scaling": "log"},
    "weight_decay": {"min": 0.001, "max": 0.3, "scaling": "log"},
    "warmup_factor": {"feasible_points": [0.02, 0.05, 0.1]},
}


def test_external_plan_is_seeded_and_studies_differ(nadamw):
    space = BOX
    a = plan_jobs(MLP, nadamw, space, trials=5, studies=3, seed=7)
    b = plan_jobs(MLP, nadamw, space, trials=5, studies=3, seed=7)
    assert a == b and len(a) == 15
    by_study = [[j["hparams"] for j in a if j["study"] == k] for k in range(3)]
    assert by_study[0] != by_study[1]
    assert len({j["seed"] for j in a}) == 15
    assert all(j["hparams"]["beta2"] == nadamw.hparams["beta2"] for j in a)  # not in the space


def test_list_space_gives_the_same_points_in_order_to_every_study(nadamw):
    points = [{"learning_rate": 0.01}, {"learning_rate": 0.003}, {"learning_rate": 0.001}]
    jobs = plan_jobs(MLP, nadamw, points, trials=2, studies=2)
    assert [j["hparams"]["learning_rate"] for j in jobs] == [0.01, 0.003, 0.01, 0.003]


def test_self_tuning_runs_defaults_with_a_longer_budget(nadamw):
    jobs = plan_jobs(MLP, nadamw, None, ruleset="self", studies=3)
    assert len(jobs) == 3 and all(j["hparams"] == nadamw.hparams for j in jobs)
    assert {j["max_steps"] for j in jobs} == {int(1.5 * MLP.step_hint)}
    with pytest.raises(UserError, match="self-tuning takes no search space"):
        plan_jobs(MLP, nadamw, default_space("nadamw"), ruleset="self")


@pytest.mark.parametrize(
    "space, message",
    [
        ({"learnig_rate": {"min": 1e-3, "max": 1e-2, "scaling": "log"}}, "'learnig_rate'"),
        ([{"momentum": 0.9}], "'momentum', which submission 'nadamw' does not declare"),
        (None, "external tuning needs a search space"),
    ],
)
def test_bad_spaces_are_refused(nadamw, space, message):
    with pytest.raises(UserError, match=message):
        plan_jobs(MLP, nadamw, space)


@pytest.mark.slow
def test_tune_resumes_after_a_kill_without_redoing_trials(tmp_path, tune_command):
    out = str(tmp_path / "exp")
    trials = [io.trial_dir(out, "mnist1d_mlp", trial=i) for i in (1, 2, 3)]
    proc = subprocess.Popen(
        tune_command(out, 3, 1), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    while not io.is_finished(trials[0]) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = [io.is_finished(t) for t in trials]
    assert done[0] and not all(done), "the kill came too late to test anything"
    stamps = {
        t: os.path.getmtime(os.path.join(t, io.RESULT_FILE))
        for t, d in zip(trials, done, strict=True)
        if d
    }
    results = tune(
        [MLP],
        load_submission("nadamw"),
        default_space("nadamw"),
        output=out,
        trials=3,
        studies=1,
        progress=False,
    )
    assert [r.skipped for r in results] == done
    for t, stamp in stamps.items():  # finished trials were not rewritten
        assert os.path.getmtime(os.path.join(t, io.RESULT_FILE)) == stamp
    assert all(io.is_finished(t) for t in trials)


@pytest.mark.slow
def test_benchmark_tunes_the_suite_and_scores_beside_baselines(tmp_path, capsys):
    from algoperf_lite.cli import main

    baselines = tmp_path / "baselines"
    one_point = tmp_path / "space.json"
    one_point.write_text('[{"learning_rate": 0.05}]')
    assert (
        main(
            [
                "tune",
                "--workload",
                "mnist1d_mlp",
                "--submission",
                "sgd",
                "--trials",
                "1",
                "--studies",
                "1",
                "--search-space",
                str(one_point),
                "--output",
                str(baselines / "sgd"),
            ]
        )
        == 0
    )
    out = tmp_path / "mine"
    code = main(
        [
            "benchmark",
            "--submission",
            "nadamw",
            "--trials",
            "1",
            "--studies",
            "1",
            "--baselines",
            str(baselines),
            "--output",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert "| nadamw |" in text and "| sgd |" in text
    header = next(line for line in text.splitlines() if line.startswith("| submission |"))
    offline = suite("offline")
    assert all(f" {w.name} " in header for w in offline)
    for w in offline:
        assert os.path.isdir(os.path.join(out, "study_0", f"{w.name}_jax", "trial_1"))
    assert (out / "report" / "performance_profile.png").exists()
