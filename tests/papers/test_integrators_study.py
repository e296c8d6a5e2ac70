"""The integrators study end to end on a shrunk workload: bracketed rates,
the three budgets, a resumed study that trains nothing, and its report."""

import dataclasses
import os

import pytest

from algoperf_lite.papers import claims, integrators_study
from algoperf_lite.train import planning
from workloads import WORKLOADS


@pytest.fixture
def small_study():
    """A shrunk config (two methods, two seeds) and workload, as Flax examples' tests do."""
    config = integrators_study.get_config()
    config.methods = ("euler", "rk4")
    config.seeds = (0, 1)
    return config, dataclasses.replace(WORKLOADS["digits_logreg"], step_hint=40, eval_every=20)


@pytest.mark.slow
def test_study_brackets_runs_all_budgets_resumes_and_reports(small_study, tmp_path, monkeypatch):
    config, tiny = small_study
    path = str(tmp_path / "runs.jsonl")
    runs = integrators_study.run_all([tiny], path, config, progress=False)
    study = integrators_study.arrange(runs)
    for method in config.methods:
        grid = study.grids[(tiny.name, method)]
        assert grid.interior  # both neighbours of the chosen rate were tried and are worse
        assert grid.best == min(grid.rates, key=dict(zip(grid.rates, grid.scores, strict=True)).get)
        # The score is the mean validation metric (negated: higher is better).
        cell = study.cells[(tiny.name, method, "equal steps")]
        assert grid.scores[grid.rates.index(grid.best)] == pytest.approx(
            claims.mean_loss([integrators_study.selection_value(r) for r in cell])
        )
        for budget in integrators_study.BUDGETS:
            cell = study.cells[(tiny.name, method, budget)]
            assert [r["seed"] for r in cell] == [0, 1]
            assert {r["rate"] for r in cell} == {grid.best}
        assert study.cells[(tiny.name, method, "equal steps")][0]["steps"] == 40
    assert study.cells[(tiny.name, "rk4", "equal gradient evaluations")][0]["steps"] == 10
    assert study.cells[(tiny.name, "rk4", "equal gradient evaluations")][0]["grad_evals"] == 40

    def no_training(*args, **kwargs):
        raise AssertionError("a resumed study trained again")

    monkeypatch.setattr(planning, "run_points", no_training)
    monkeypatch.setattr(integrators_study, "run_trial", no_training)
    assert len(integrators_study.run_all([tiny], path, config, progress=False)) == len(runs)

    paths = integrators_study.write(integrators_study.load(path), str(tmp_path))
    text = open(paths[0]).read()
    assert "| RK4 |" in text and "## Verdicts, claim by claim" in text
    assert "RK4 ends below SGD (forward Euler) at equal gradient evaluations" in text
    assert "Failure of the study" not in text
    assert open(paths[1], "rb").read(4) == b"\x89PNG"


def test_a_rate_at_the_edge_of_its_grid_is_reported_as_a_failure(small_study, tmp_path):
    runs = [
        {
            "workload": "w",
            "method": m,
            "rate": lr,
            "seed": s,
            "budget": "equal steps",
            "train_loss": loss,
            "validation": 0.5,
            "steps": 10,
            "grad_evals": 10,
            "metric": "m",
            "curve": [],
        }
        for m in integrators_study.METHODS
        for lr, loss in ((0.1, 2.0), (0.316, 1.0))  # best at the top of the grid
        for s in (0, 1)
    ]
    text = integrators_study.markdown(runs)
    assert "**Failure of the study**" in text and "RK4 on w" in text
    assert claims.Bracket([0.1, 0.316], [2.0, 1.0]).interior is False


DATA = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "results", "integrators.jsonl"
)


def test_committed_runs_cover_the_offline_suite_with_bracketed_rates():
    from workloads import suite

    study = integrators_study.arrange(integrators_study.load(DATA))
    assert sorted(study.workloads) == sorted(w.name for w in suite("offline"))
    for (w, m), grid in study.grids.items():
        assert grid.interior, (w, m, grid.rates)
        for b in integrators_study.BUDGETS:
            assert [r["seed"] for r in study.cells[(w, m, b)]] == list(integrators_study.SEEDS)
