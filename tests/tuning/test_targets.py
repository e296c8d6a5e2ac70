"""The target-setting procedure (AlgoPerf's, in small) on a shrunk workload."""

import dataclasses
import json
import math
import statistics

import pytest

from algoperf_lite.tuning import targets
from workloads import DECLARED


@pytest.mark.slow
def test_procedure_targets_budget_check_and_resume(tmp_path):
    tiny = dataclasses.replace(DECLARED["digits_logreg"], step_hint=40, eval_every=20)
    journal = tmp_path / "journal.jsonl"
    entry = targets.set_target(tiny, str(journal), trials=2, seeds=3, progress=False)
    record = entry["provenance"]
    lines = [json.loads(line) for line in journal.read_text().splitlines()]

    # Four reference optimizers, each searched with its trial count at horizon T.
    assert record["trials_per_optimizer"] == {name: 2 for name in targets.REFERENCES}
    assert set(record["search_spaces"]) == {"adamw", "nadamw", "nesterov", "heavy_ball"}
    assert entry["step_hint"] == math.ceil(4 * 40 / 3) == 54 and record["horizon"] == 40
    search = [r for r in lines if r["phase"] == "search"]
    assert len(search) == 8 and {r["seed"] for r in search} == {0}
    assert all(r["curve"][-1][0] == 40 for r in search)  # full horizon, no early stop
    nesterov = {r["hparams"]["nesterov"] for r in search if r["optimizer"] == "nesterov"}
    assert nesterov == {1.0}
    # The winner is the best search run; targets come from its seed reruns.
    best = min(search, key=lambda r: r["best"])
    assert record["winner"]["optimizer"] == best["optimizer"]
    assert record["best_hparams"] == best["hparams"]
    seeds = [r for r in lines if r["phase"] == "seeds"]
    assert [r["seed"] for r in seeds] == list(targets.TARGET_SEEDS[:3])
    assert entry["validation_target"] == statistics.median(r["best"] for r in seeds)
    reached = [r for r in seeds if r["best"] <= entry["validation_target"]]
    assert entry["test_target"] == max(r["test_at_best"] for r in reached)
    # The check runs the point within the budget and stops at the target.
    checks = [r for r in lines if r["phase"] == "check"]
    assert [r["seed"] for r in checks] == list(targets.CHECK_SEEDS[:3])
    hits = [r for r in checks if r["status"] == "target_reached"]
    assert record["check"]["reached"] == len(hits)
    assert all(r["steps_to_target"] <= 54 for r in hits)
    assert all(r["curve"][-1][0] == r["steps_to_target"] for r in hits)

    # A baseline list from the searches: the best search point of the optimizer comes first.
    nadamw = [r for r in search if r["optimizer"] == "nadamw"]
    listed = targets.baseline_list({tiny.name: str(journal)}, {tiny.name: tiny}, "nadamw", 2)
    assert listed[0] == min(nadamw, key=lambda r: r["best"])["hparams"] and len(listed) == 2

    # Killed and rerun: nothing runs again, the same entry comes back.
    again = targets.set_target(tiny, str(journal), trials=2, seeds=3, progress=False)
    assert journal.read_text().count("\n") == len(lines)
    assert {k: again[k] for k in ("validation_target", "test_target", "step_hint")} == {
        k: entry[k] for k in ("validation_target", "test_target", "step_hint")
    }
