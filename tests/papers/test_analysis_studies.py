"""The importance and landscape studies, rebuilt from the committed sweeps,
and their command-line entry points."""

import json
import os

import numpy as np
import pytest

from algoperf_lite.cli import main
from algoperf_lite.papers import importance_study, landscape_study
from algoperf_lite.papers.lists import study as lists_study
from algoperf_lite.tuning import sweeps
from workloads import cnn_family, suite

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SWEEPS = os.path.join(ROOT, "results", "sweeps")
CNN_SWEEP = os.path.join(SWEEPS, importance_study.TABLE_FILE)
GRID_SWEEP = os.path.join(SWEEPS, landscape_study.TABLE_FILE)


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cnn_family_trains_and_is_deterministic():
    point = {
        "num_conv_layers": 2,
        "filters": 8,
        "kernel_size": 3,
        "dense_units": 32,
        "dropout_rate": 0.1,
        "learning_rate": 3e-3,
        "optimizer": "adam",
        "epochs": 2,
        "batch_size": 32,
    }
    first = importance_study.train(point, "shapes")
    again = importance_study.train(point, "shapes")
    assert first["value"] > 2 / len(cnn_family.SHAPES)  # well above chance
    assert first["global_step"] == 2 * (cnn_family.MAX_TRAIN // 32)
    assert {k: v for k, v in first.items() if k != "score"} == {
        k: v for k, v in again.items() if k != "score"
    }
    one_d = importance_study.train({**point, "num_conv_layers": 3, "epochs": 1}, "mnist1d")
    assert np.isfinite(one_d["validation/loss"])


def test_cnn_sweep_covers_every_dataset_and_the_analysis_is_consistent():
    finals = sweeps.finals(sweeps.load(CNN_SWEEP))
    counts = finals.groupby("workload").size()
    assert set(counts.index) == set(cnn_family.DATASETS) and counts.min() >= 100
    # A cut of the sweep keeps the test fast; fANOVA is the slow half.
    few = finals[finals["point"] < 40]
    result = importance_study.analyze(few)
    for table in (result["relief"], result["fanova"]):
        assert list(table.index) == list(cnn_family.SPACE)
        assert table.drop(columns="mean").sum().to_numpy() == pytest.approx(1.0)
    text = importance_study.markdown(result)
    assert "## Against the paper" in text and all(d in text for d in cnn_family.DATASETS)
    assert len(result["claims"]) == 5 and "## Verdicts, claim by claim" in text
    for claim in result["claims"]:
        assert claim.verdict in ("holds", "fails", "undecided") and claim.low <= claim.high


def test_landscape_sweep_is_a_full_grid_and_analyzes():
    frame = sweeps.load(GRID_SWEEP)
    points = len(landscape_study.grid_points())
    assert frame.groupby("workload")["point"].nunique().to_dict() == {
        w: points for w in landscape_study.WORKLOADS
    }
    result = landscape_study.analyze(frame)
    assert len(result["metrics"]) == 4 * len(landscape_study.WORKLOADS)
    for m in result["metrics"].values():
        assert m["points"] == points and 1 <= m["local_optima"] <= points
        assert -1 <= m["fdc"] <= 1 and 0 <= m["neutrality"] <= 1
    kinds = result["pairs"]["kind"].value_counts().to_dict()
    assert kinds == {
        "train vs validation": 6,
        "low vs full fidelity": 6,
        "workload vs workload": 12,
    }
    text = landscape_study.markdown(result)
    verdicts = [line for line in text.split("## Verdicts, claim by claim")[1].splitlines()]
    findings = [line for line in verdicts if line.startswith("| ") and "**" in line]
    assert len(findings) == 7
    assert all(
        any(f"**{v}**" in line for v in ("holds", "fails", "undecided")) for line in findings
    )
    for claim in landscape_study.study_claims(result):
        assert claim.low <= claim.estimate <= claim.high


def test_cli_analyze_importance(capsys):
    broad = os.path.join(SWEEPS, "nadamw_broad.csv.gz")
    code, out, _ = run_cli(
        capsys, "analyze", "importance", broad, "--method", "nrrelieff", "--json"
    )
    shares = json.loads(out)
    study = {w.name for name in lists_study.SUITES for w in suite(name)}
    assert code == 0 and set(shares) == study  # the twelve workloads of the lists sweep
    for workload in shares.values():
        assert sum(workload["nrrelieff"].values()) == pytest.approx(1.0, abs=1e-5)
        assert max(workload["nrrelieff"], key=workload["nrrelieff"].get) == "learning_rate"
    code, out, _ = run_cli(capsys, "analyze", "importance", broad, "--workload", "mnist1d_mlp")
    assert code == 0 and "agreement: Kendall tau" in out


def test_cli_analyze_landscape(capsys):
    code, out, _ = run_cli(
        capsys, "analyze", "landscape", GRID_SWEEP, "--workload", "digits_logreg", "--json"
    )
    metrics = json.loads(out)["digits_logreg"]
    assert code == 0 and metrics["points"] == len(landscape_study.grid_points())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["importance", "missing.csv.gz"], "sweep table not found"),
        (["importance", GRID_SWEEP, "--workload", "nope"], "is not in the sweep"),
        (["importance", GRID_SWEEP, "--log", "learning_rat"], "does not vary"),
        (["landscape", GRID_SWEEP, "--column", "accuracy"], "has no column 'accuracy'"),
    ],
)
def test_cli_analyze_bad_input(capsys, argv, message):
    code, out, err = run_cli(capsys, "analyze", *argv)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", list(cnn_family.TFDS_DATASETS))
def test_cnn_family_reads_tfds_datasets_through_their_workloads(name, monkeypatch):
    import dataclasses

    import tensorflow_datasets as tfds

    import workloads

    workload = workloads.WORKLOADS[cnn_family.TFDS_DATASETS[name]]
    with tfds.testing.mock_data(num_examples=80):
        splits = workload.load_splits.__wrapped__()  # bypass the registry's cache
    mocked = dataclasses.replace(workload, load_splits=lambda: splits)
    monkeypatch.setitem(workloads.WORKLOADS, workload.name, mocked)
    cnn_family.load.cache_clear()
    try:
        x, _ = cnn_family.load(name)["train"]
        assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
        point = dict(importance_study.points(1)[0], epochs=1, batch_size=16)
        row = importance_study.train(point, name)
        assert row["global_step"] == len(x) // 16 and np.isfinite(row["validation/loss"])
    finally:
        cnn_family.load.cache_clear()  # mock data must not outlive the test
