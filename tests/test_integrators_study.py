"""The integrators study end to end on a shrunk workload."""

import dataclasses
import math

from algoperf_lite import integrators_study
from workloads import WORKLOADS


def test_study_runs_all_budgets_and_reports(tmp_path, monkeypatch):
    monkeypatch.setattr(integrators_study, "LEARNING_RATES", (0.05, 0.2))  # two: a real choice
    tiny = dataclasses.replace(WORKLOADS["mnist1d_mlp"], step_hint=40, eval_every=20)
    runs = integrators_study.run_all([tiny], str(tmp_path / "runs.json"), progress=False)
    best = integrators_study.best_runs(runs)
    for method in integrators_study.METHODS:
        evals = best[(tiny.name, method, "equal gradient evaluations")]
        assert evals["grad_evals"] <= 40 and evals["steps"] == 40 // (
            evals["grad_evals"] // evals["steps"]
        )
        assert best[(tiny.name, method, "equal steps")]["steps"] == 40
    assert best[(tiny.name, "rk4", "equal gradient evaluations")]["steps"] == 10
    # The chosen rate is the one with the lower final training loss.
    euler = [r for r in runs if r["method"] == "euler" and r["budget"] == "equal steps"]
    chosen = best[(tiny.name, "euler", "equal steps")]
    assert chosen["train_loss"] == min(
        r["train_loss"] for r in euler if math.isfinite(r["train_loss"])
    )
    paths = integrators_study.write(
        integrators_study.load(str(tmp_path / "runs.json")), str(tmp_path)
    )
    text = open(paths[0]).read()
    assert "| RK4 |" in text and "## Verdict" in text
    assert open(paths[1], "rb").read(4) == b"\x89PNG"
