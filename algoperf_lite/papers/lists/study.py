"""The hyperparameter-lists study: its settings, sweeps and analysis.

Data, all NAdamW on the twelve offline and variant workloads (``SUITES``),
full step budgets, curves stored:

* ``nadamw_broad``: quasi-random points of the broad space over all seven
  AlgoPerf hyperparameters (``results/sweeps/nadamw_broad_space.json``);
* ``nadamw_grid``: a 3x3 learning-rate x weight-decay grid, the other
  hyperparameters at AlgoPerf's self-tuning point;
* ``nadamw_algoperf_list``: AlgoPerf's published 5-point NAdamW list, in order;
* ``nadamw_tpe``: optuna's TPE given 5 trials on each workload, 3 seeds.

The report builds lists from the broad sweep and evaluates them against those
baselines at equal trial budgets k, held out two ways: leave-one-workload-out
(the list is built on the other eleven workloads) and leave-one-family-out (a
base workload and its variant are one family; the list is built on the other
families, so it never sees a near copy of the task it is evaluated on).
"""

from __future__ import annotations

import itertools
import math
import os

import numpy as np
import pandas as pd

from algoperf_lite.analysis import lists
from algoperf_lite.analysis.scoring import BOOTSTRAP_DRAWS
from algoperf_lite.loading import load_submission
from algoperf_lite.papers import claims
from algoperf_lite.tuning import search_space, sweeps
from submissions.nadamw import ALGOPERF_SELF_TUNING

SUITES = ("offline", "variants")  # the workloads the sweeps cover
SPACE_FILE = "nadamw_broad_space.json"
NUM_POINTS = 128
LENGTH = 5
PAPER_SPEED_UP = 3.0  # "about 3x" quasi-random search at 5 parallel trials
HOLD_OUTS = ("workload", "family")  # what is left out of the list for a held-out workload
LIST_METHODS = {h: f"list (leave one {h} out)" for h in HOLD_OUTS}

# AlgoPerf's self-tuning point (point 5 of its list) without the two rates the grid sets.
_SELF_TUNING = {
    k: v for k, v in ALGOPERF_SELF_TUNING.items() if k not in ("learning_rate", "weight_decay")
}
GRID = [
    {**_SELF_TUNING, "learning_rate": lr, "weight_decay": wd}
    for lr, wd in itertools.product([1e-3, 3e-3, 1e-2], [1e-3, 1e-2, 1e-1])
]
# AlgoPerf's published 5-point NAdamW list, in its order.
ALGOPERF_LIST = search_space.load(
    os.path.join(search_space.SPACES_DIR, "algoperf_nadamw_list.json")
)
SHIPPED_LIST = "nadamw_list.json"  # in submissions/search_spaces/: the list on all workloads
METHODS = (*LIST_METHODS.values(), "quasi-random", "lr x wd grid", "AlgoPerf list", "TPE")


def run_all(
    folder: str,
    workloads: list,
    progress: bool = True,
    num_points: int = NUM_POINTS,
    tpe_trials: int = LENGTH,
) -> None:
    """(Re)run every sweep of the study; each resumes from its .jsonl file."""
    nadamw = load_submission("nadamw")
    space = search_space.load(os.path.join(folder, SPACE_FILE))
    fixed = {
        "nadamw_broad": search_space.points(space, num_points, seed=0),
        "nadamw_grid": GRID,
        "nadamw_algoperf_list": ALGOPERF_LIST,
    }
    for name, points in fixed.items():
        records = sweeps.run_sweep(
            workloads, nadamw, points, os.path.join(folder, f"{name}.jsonl"), progress=progress
        )
        sweeps.compact(records, os.path.join(folder, f"{name}.csv.gz"))
    records = sweeps.run_tpe(
        workloads,
        nadamw,
        space,
        os.path.join(folder, "nadamw_tpe.jsonl"),
        trials=tpe_trials,
        progress=progress,
    )
    sweeps.compact(records, os.path.join(folder, "nadamw_tpe.csv.gz"))


def _ordered(frame: pd.DataFrame, workloads: dict) -> pd.DataFrame:
    """Steps per (seed, order) for a fixed-order or seeded method."""
    parts = []
    for seed in sorted(frame["seed"].unique()):
        table = lists.steps_table(frame, workloads, seed=int(seed))
        parts.append(table.assign(order=table.index, seed=seed))
    return pd.concat(parts, ignore_index=True)


def _speed_up_claims(speed_ups: dict) -> dict[tuple[str, float], claims.Claim]:
    """The geometric-mean speed-up over held-out workloads, resampled over them:
    is it above 1x, and above the paper's 3x, for each hold-out."""

    def geo_mean(logs):
        return math.exp(float(np.mean(logs)))

    out = {}
    for hold_out, per_workload in speed_ups.items():
        logs = [math.log(v) for v, _ in per_workload.values()]
        draws = claims.resampled(logs, geo_mean, draws=BOOTSTRAP_DRAWS)
        for bound in (1.0, PAPER_SPEED_UP):
            out[hold_out, bound] = claims.interval_claim(
                f"leave one {hold_out} out: the list needs fewer trials than "
                f"quasi-random search, speed-up at {LENGTH} trials above {bound:g}x",
                geo_mean(logs),
                draws,
                bound,
                above=True,
                sample=f"the {len(logs)} held-out workloads",
            )
    return out


def evaluate(folder: str, workloads: dict) -> dict:
    """Everything the report shows, from the committed sweep tables."""
    broad = sweeps.load(os.path.join(folder, "nadamw_broad.csv.gz"))
    steps = lists.steps_table(broad, workloads)
    grid = lists.steps_table(sweeps.load(os.path.join(folder, "nadamw_grid.csv.gz")), workloads)
    ordered = {
        "AlgoPerf list": _ordered(
            sweeps.load(os.path.join(folder, "nadamw_algoperf_list.csv.gz")), workloads
        ),
        "TPE": _ordered(sweeps.load(os.path.join(folder, "nadamw_tpe.csv.gz")), workloads),
    }
    family = {w: workloads[w].variant_of or w for w in steps.columns}
    excluded = {"workload": None, "family": lists.family_members(family)}
    parts, held_lists, speed_ups = [], {}, {}
    for hold_out in HOLD_OUTS:
        table, held_lists[hold_out] = lists.leave_one_out(
            steps,
            LENGTH,
            baselines=ordered,
            random_baselines={"lr x wd grid": grid},
            excluded=excluded[hold_out],
        )
        ours = table.method == "list"
        # The baselines do not depend on the hold-out; keep them once.
        parts.append(table[ours].assign(method=LIST_METHODS[hold_out]))
        if hold_out == HOLD_OUTS[0]:
            parts.append(table[~ours])
        at5 = table[ours & (table.k == LENGTH)].set_index("workload")["median"]
        speed_ups[hold_out] = {w: lists.speed_up(steps[w], at5[w], LENGTH) for w in steps.columns}
    full_list = lists.build(steps, LENGTH)
    return {
        "steps": steps,
        "table": pd.concat(parts, ignore_index=True),
        "family": family,
        "lists": {
            h: {w: [lists.hparams_of(broad, p) for p in ids] for w, ids in held.items()}
            for h, held in held_lists.items()
        },
        "full_list": [lists.hparams_of(broad, p) for p in full_list],
        "speed_ups": speed_ups,
        "claims": _speed_up_claims(speed_ups),
        "num_points": len(steps),
        "reached_any": {w: int(np.isfinite(steps[w]).sum()) for w in steps.columns},
    }
