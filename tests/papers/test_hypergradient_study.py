"""The hypergradient study: its committed runs, its report, its verdict logic,
and the paper's own problems through their real TFDS pipeline."""

import math
import os

import pytest

from algoperf_lite.papers.hypergradient import study, tables
from workloads import suite

DATA = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "results", study.DATA_FILE
)


def test_committed_runs_cover_the_offline_suite_with_bracketed_alphas():
    runs = study.load(DATA)
    points, grids, workloads = study.arrange(runs)
    assert sorted(workloads) == sorted(w.name for w in suite("offline"))
    for (w, m), grid in grids.items():
        assert grid.interior, (w, m, grid.rates)  # the chosen alpha_0 is not at an edge
        assert study.ALPHA_0 in grid.rates  # the paper's alpha_0 is always on the grid
        for a in grid.rates:
            assert [r["seed"] for r in points[(w, m, a)]] == list(study.SEEDS)
    for r in runs:  # a base method is its HD variant with beta = 0: alpha stays put
        if not r["method"].endswith("-HD") and r["curve"]:
            assert {round(a / r["rate"], 5) for _, a, _, _ in r["curve"]} == {1.0}


def test_report_regenerates_with_paper_numbers_brackets_and_verdicts(tmp_path):
    paths = tables.write(study.load(DATA), str(tmp_path))
    text = open(paths[0]).read()
    assert "| logreg | ours (`digits_logreg`)" in text and "0.396 / 0.374" in text
    assert "Does the paper's direction hold here?" in text
    assert "## Verdicts, claim by claim" in text and "Failure of the study" not in text
    assert all(os.path.getsize(p) > 10_000 for p in paths[1:])  # two figures


def _runs(hd_loss):
    return [
        {
            "workload": w,
            "method": m,
            "rate": study.ALPHA_0,
            "seed": s,
            "budget": study.BUDGET,
            "train_loss": (
                (hd_loss and hd_loss * (1 + 0.001 * s)) if m.endswith("-HD") else 1 + 0.001 * s
            ),
            "validation_loss": 1.0,
            "curve": None,
        }
        for w in study.PAPER_STANDINS.values()
        for m in study.METHODS
        for s in study.SEEDS
    ]


@pytest.mark.parametrize(
    "hd_loss, verdict", [(1.005, "holds"), (0.7, "holds"), (1.5, "fails"), (None, "fails")]
)
def test_direction_check_flags_a_worse_hd(hd_loss, verdict):
    assert {d["ours"].verdict for d in study.directions(_runs(hd_loss))} == {verdict}


@pytest.mark.slow
def test_tfds_problems_run_through_their_real_pipeline(tmp_path):
    import dataclasses

    import tensorflow_datasets as tfds

    from algoperf_lite.papers.hypergradient import get_config
    from workloads import WORKLOADS

    config = get_config()  # shrunk, as Flax examples' tests shrink theirs
    config.seeds, config.methods = (0,), ("SGD", "SGD-HD")
    # VGG-16's compile is slow on a CPU; its pipeline is covered by the TFDS tests.
    small = []
    for name in ("mnist_logreg", "mnist_mlp"):
        w = WORKLOADS[name]
        with tfds.testing.mock_data(num_examples=64):
            splits = w.load_splits.__wrapped__()  # bypass the registry's cache
        small.append(
            dataclasses.replace(
                w, load_splits=lambda s=splits: s, batch_size=8, step_hint=4, eval_every=2
            )
        )
    runs = study.run_all(small, str(tmp_path / "tfds.jsonl"), config, progress=False)
    assert {r["workload"] for r in runs} == {"mnist_logreg", "mnist_mlp"}
    for r in runs:
        if r["curve"] and r["train_loss"] is not None:
            assert len(r["curve"]) == 2 and all(math.isfinite(v) for v in r["curve"][-1])
    # The report names the workloads its runs used.
    text = tables.markdown(runs, study.TFDS_PROBLEMS)
    assert "| logreg | ours (`mnist_logreg`)" in text and "`mnist_mlp`" in text
