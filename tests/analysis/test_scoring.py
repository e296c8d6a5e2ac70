"""The scorer against AlgoPerf's rules, on synthetic and on real experiment folders."""

import csv
import json
import math
import os

import numpy as np
import pytest

from algoperf_lite import UserError
from algoperf_lite.analysis.scoring import score
from algoperf_lite.cli import main
from algoperf_lite.core import io

TARGETS = {
    "w_acc": {"metric": "validation/accuracy", "target": 0.9},
    "w_loss": {"metric": "validation/loss", "target": 0.5},
}


def write_trial(folder, steps, values, metric):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "eval_measurements.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["global_step", "score", "accumulated_submission_time", metric])
        for step, value in zip(steps, values, strict=True):
            writer.writerow([step, step / 100, step / 100, value])


def curve_reaching(at, metric, horizon=1000):
    """Evaluations every 50 steps; the target is first met at step ``at`` (None: never)."""
    good, bad = (0.95, 0.5) if metric.endswith("accuracy") else (0.3, 1.0)
    steps = list(range(50, horizon + 1, 50))
    values = [good if at is not None and s >= at else bad for s in steps]
    if at is not None and at + 100 <= horizon:
        values[steps.index(at + 100)] = bad  # falling back later must not matter
    return steps, values


def experiment(root, name, table, studies_level=True):
    """table: {workload: [[trial times of study 0], [study 1], ...]}"""
    base = os.path.join(root, name)
    for workload, studies in table.items():
        metric = TARGETS[workload]["metric"]
        for k, trials in enumerate(studies):
            study = os.path.join(base, f"study_{k}") if studies_level else base
            for i, at in enumerate(trials):
                write_trial(
                    os.path.join(study, f"{workload}_jax", f"trial_{i}"),
                    *curve_reaching(at, metric),
                    metric,
                )
    return base


def reference_score(ratios):
    """AlgoPerf's rule written out: drop ratios > 4, rho on linspace(1, 4, 100), area / 3."""
    taus = np.linspace(1, 4, 100)
    rho = [sum(r <= t for r in ratios if r <= 4) / len(ratios) for t in taus]
    area = sum((taus[i + 1] - taus[i]) * (rho[i] + rho[i + 1]) / 2 for i in range(99))
    return area / 3


def test_synthetic_experiments_follow_algoperf_rules(tmp_path):
    # A: w_acc studies' best trials 100 (not the first trial: min over times), 150, miss
    #    -> median 150; w_loss always misses.
    a = experiment(
        tmp_path,
        "A",
        {"w_acc": [[300, 100], [150, None], [None]], "w_loss": [[None], [None], [None]]},
    )
    # B: w_acc 300, 300, 300 -> 300 (2x A); w_loss 50, 100, 400 -> 100 (the best).
    b = experiment(tmp_path, "B", {"w_acc": [[300], [300], [300]], "w_loss": [[50], [100], [400]]})
    # C: w_acc 700 (> 4x the best: dropped); w_loss 250 (2.5x).
    c = experiment(tmp_path, "C", {"w_acc": [[700]], "w_loss": [[250]]}, studies_level=False)
    report = score({"A": a, "B": b, "C": c}, targets=TARGETS, verify=False)
    assert report.times["A"] == {"w_acc": 150, "w_loss": math.inf}
    assert report.times["B"] == {"w_acc": 300, "w_loss": 100}
    assert report.times["C"] == {"w_acc": 700, "w_loss": 250}
    assert report.scores["A"] == pytest.approx(reference_score([1, math.inf]))
    assert report.scores["B"] == pytest.approx(reference_score([2, 1]))
    assert report.scores["C"] == pytest.approx(reference_score([700 / 150, 2.5]))
    assert report.scores["A"] == pytest.approx(0.5)  # one workload at ratio 1, one never
    assert 0 <= min(report.scores.values()) and max(report.scores.values()) <= 1
    seconds = score({"A": a, "B": b}, time="seconds", targets=TARGETS, verify=False)
    assert seconds.times["B"]["w_acc"] == pytest.approx(3.0)


def test_all_missed_workload_counts_against_everyone(tmp_path):
    a = experiment(tmp_path, "A", {"w_acc": [[None]], "w_loss": [[100]]})
    b = experiment(tmp_path, "B", {"w_acc": [[None]], "w_loss": [[100]]})
    report = score({"A": a, "B": b}, targets=TARGETS, verify=False)
    assert report.scores == {"A": pytest.approx(0.5), "B": pytest.approx(0.5)}


def test_score_cli_json_and_report(tmp_path, capsys):
    a = experiment(tmp_path, "A", {"w_acc": [[100]]})
    b = experiment(tmp_path, "B", {"w_acc": [[200]]})
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps(TARGETS))
    code = main(
        [
            "score",
            a,
            b,
            "--json",
            "--unverified",
            "--targets",
            str(targets),
            "--report",
            str(tmp_path / "report"),
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["times"] == {"A": {"w_acc": 100.0}, "B": {"w_acc": 200.0}}
    assert out["scores"]["A"] == pytest.approx(1.0)
    assert out["scores"]["B"] == pytest.approx(reference_score([2]))
    files = sorted(os.listdir(tmp_path / "report"))
    assert files == ["performance_profile.png", "scores.md", "times.csv"]
    assert (tmp_path / "report" / "performance_profile.png").read_bytes()[:4] == b"\x89PNG"


def test_unknown_workload_without_targets_is_one_line_error(tmp_path):
    a = experiment(tmp_path, "A", {"w_acc": [[100]]})
    with pytest.raises(UserError, match="no target known for workload 'w_acc'"):
        score({"A": a}, verify=False)


def test_missing_metric_column_is_named(tmp_path):
    a = experiment(tmp_path, "A", {"w_acc": [[100]]})
    bad = {"w_acc": {"metric": "validation/error_rate", "target": 0.1}}
    with pytest.raises(UserError, match="no 'validation/error_rate' column"):
        score({"A": a}, targets=bad, verify=False)


def test_real_runs_score_from_result_files(tmp_path):
    """On our own tune output: the scorer's time equals the median over studies of
    the fastest trial, computed here from result.json alone."""
    from algoperf_lite import load_submission
    from algoperf_lite.tuning.study import tune
    from workloads import WORKLOADS

    mlp = WORKLOADS["mnist1d_mlp"]
    space = [{"learning_rate": 0.006}, {"learning_rate": 0.02}]
    out = str(tmp_path / "nadamw")
    tune([mlp], load_submission("nadamw"), space, output=out, trials=2, studies=3, progress=False)
    expected = []
    for k in range(3):
        steps = []
        for i in (1, 2):
            result = io.read_json(
                io.trial_dir(out, mlp.name, trial=i, study=f"study_{k}") + "/result.json"
            )
            steps.append(result["steps_to_target"] or math.inf)
        expected.append(min(steps))
    report = score({"nadamw": out})
    assert report.times["nadamw"]["mnist1d_mlp"] == float(np.median(expected))
    assert report.scores["nadamw"] == (1.0 if math.isfinite(np.median(expected)) else 0.0)


def test_bootstrap_interval_and_paired_verdicts(tmp_path):
    """A dominates B on every study of both workloads: its interval sits at 1, the
    paired verdict says better (and B worse); C equals A study by study, so the
    paired difference is exactly 0 in every draw: not distinguishable."""
    table_a = {"w_acc": [[100], [150], [200]], "w_loss": [[100], [150], [150]]}
    a = experiment(tmp_path, "A", table_a)
    b = experiment(
        tmp_path, "B", {"w_acc": [[300], [350], [None]], "w_loss": [[250], [250], [300]]}
    )
    c = experiment(tmp_path, "C", table_a)
    report = score({"A": a, "B": b, "C": c}, targets=TARGETS, verify=False)
    assert report.intervals["A"] == (pytest.approx(1.0), pytest.approx(1.0))
    lo, hi = report.intervals["B"]
    assert lo <= report.scores["B"] <= hi < 1.0
    assert report.verdicts["A"]["B"]["verdict"] == "better"
    assert report.verdicts["B"]["A"]["verdict"] == "worse"
    assert report.verdicts["A"]["C"]["verdict"] == "not distinguishable"
    assert report.verdicts["A"]["C"]["interval"] == [0.0, 0.0]
    assert report.reached["B"] == {"w_acc": (2, 3), "w_loss": (3, 3)}
    text = report.markdown()
    assert "better than B" in text and "not distinguishable from C" in text


def test_bootstrap_resamples_studies(tmp_path):
    """One lucky study out of three: the point score is 0 (the median misses) but
    some resamplings draw the lucky study twice, so the interval reaches above 0."""
    a = experiment(tmp_path, "A", {"w_acc": [[100], [None], [None]]})
    b = experiment(tmp_path, "B", {"w_acc": [[200], [200], [200]]})
    report = score({"A": a, "B": b}, targets=TARGETS, verify=False)
    assert report.scores["A"] == 0.0
    assert report.intervals["A"][0] == 0.0 and report.intervals["A"][1] == pytest.approx(1.0)


def test_score_json_carries_intervals_and_verdicts(tmp_path, capsys):
    a = experiment(tmp_path, "A", {"w_acc": [[100], [100]]})
    b = experiment(tmp_path, "B", {"w_acc": [[300], [300]]})
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps(TARGETS))
    assert main(["score", a, b, "--json", "--unverified", "--targets", str(targets)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["intervals"]["A"] == [1.0, 1.0]
    assert out["verdicts"]["A"]["B"]["verdict"] == "better"
    assert "paired bootstrap" in out["verdict_test"]
    assert out["reached"]["B"]["w_acc"] == {"reached": 2, "trials": 2}
