"""Setting a workload's targets and step budget by AlgoPerf's procedure, in small.

1. Four reference optimizers (AdamW, NAdamW, Nesterov momentum, heavy-ball
   momentum), each with a broad search space written down in
   ``submissions/search_spaces/target_setting/``, are tuned by seeded
   quasi-random search at the workload's target-setting horizon T (the
   ``step_hint`` its declaration gives; the schedules decay over T): one run
   per point, seed 0, no early stop.
2. The point with the best validation value over all four is rerun on 20
   seeds at horizon T. Validation target = the median over the seeds of each
   seed's best validation value. Test target = the worst test value (taken at
   a seed's best validation evaluation) among the seeds that reached the
   validation target.
3. The submissions' budget is ``step_hint = ceil(4/3 T)``.
4. Check: the same point, run as a submission would be (its schedule over the
   new ``step_hint``), on 20 further seeds, must reach the validation target
   within ``step_hint``; the count is recorded.

Every finished run is appended to a journal (one JSON line each), so a killed
run resumes where it stopped. Everything needed to audit the numbers goes into
the provenance record of ``targets.json``.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import statistics
import time

from tqdm import tqdm

from algoperf_lite.core import io
from algoperf_lite.core.spec import Workload
from algoperf_lite.loading import load_submission
from algoperf_lite.train import planning
from algoperf_lite.tuning import search_space, sweeps

# Reference optimizer -> the registered submission that implements it (the
# momentum pair differs only in its ``nesterov`` switch, fixed by its space).
REFERENCES = {"adamw": "adamw", "nadamw": "nadamw", "nesterov": "sgd", "heavy_ball": "sgd"}
SPACES_DIR = os.path.join(search_space.SPACES_DIR, "target_setting")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET_SEEDS = range(1000, 1020)  # the 20-seed rerun at horizon T
CHECK_SEEDS = range(2000, 2020)  # the check at the budget, seeds never used above
LANES = 8  # trials vmapped together where a vmapped step pays (no convolution on CPU)
PHASES = ("search", "seeds", "check")


def reference_space(name: str) -> dict:
    return search_space.load(os.path.join(SPACES_DIR, f"{name}.json"))


def budget(horizon: int) -> int:
    """AlgoPerf's rule: submissions get 4/3 of the target-setting horizon."""
    return math.ceil(4 * horizon / 3)


def _summary(workload: Workload, result) -> dict:
    """One run as a journal line: its best validation value, the test value at that
    evaluation, steps to the target (when it has one) and the curve."""
    column = workload.metric_column
    test_column = column.replace("validation/", "test/")
    finite = [r for r in result.rows if math.isfinite(r[column])]
    best = None
    for row in finite:
        if best is None or workload.better(row[column], best[column]):
            best = row
    return {
        "status": result.status,
        "hparams": result.hparams,
        "best": None if best is None else best[column],
        "test_at_best": None if best is None else best[test_column],
        "steps_to_target": result.steps_to_target,
        "time_to_target": result.time_to_target,
        "train_seconds": round(result.submission_time_sec, 3),
        # A diverged run's last values are NaN or inf: null in the journal.
        "curve": [
            [r["global_step"], _finite(r[column]), _finite(r[test_column])] for r in result.rows
        ],
    }


class Journal(sweeps.Journal):
    """The finished runs of one workload's target setting, appended as they finish;
    runs of another definition of the workload are ignored (it starts afresh)."""

    def __init__(self, path: str, definition: str):
        super().__init__(path, ("phase", "optimizer", "index"), definition)

    def missing(self, phase: str, optimizer: str, count: int) -> list[int]:
        return [i for i in range(count) if (phase, optimizer, i) not in self.records]

    def get(self, phase: str, optimizer: str, count: int) -> list[dict]:
        return [self.records[(phase, optimizer, i)] for i in range(count)]


def _finite(value):
    return value if value is not None and math.isfinite(value) else None


def set_target(
    workload: Workload,
    journal: str,
    trials: int = 64,
    seeds: int = 20,
    search_seed: int = 0,
    trials_per_step: int | None = None,
    progress: bool = True,
) -> dict:
    """Run the procedure on a workload *as declared* (its ``step_hint`` is the
    horizon T); returns its ``targets.json`` entry. Resumes from ``journal``."""
    untargeted = dataclasses.replace(workload, validation_target=None, test_target=None)
    book = Journal(journal, workload.definition_hash)
    spaces = {name: reference_space(name) for name in REFERENCES}
    points = {  # one Halton stream per optimizer
        name: search_space.sample(s, trials, seed=search_seed + k)
        for k, (name, s) in enumerate(spaces.items())
    }
    bar = tqdm(
        total=len(REFERENCES) * trials + 2 * seeds,
        initial=len([k for k in book.records if k[0] in PHASES]),
        desc=f"{workload.name}: targets",
        unit="run",
        disable=not progress,
    )
    phases = _Phases(book, bar)

    def lanes_of(name):
        submission = load_submission(REFERENCES[name])
        return planning.lanes_for(untargeted, submission, LANES, trials_per_step)

    # 1. Quasi-random search of each reference optimizer at horizon T.
    for name in REFERENCES:
        phases.run("search", name, untargeted, points[name], lambda i: 0, lanes_of(name), False)
    search = {name: book.get("search", name, trials) for name in REFERENCES}
    winner, winner_name = _winner(workload, search)
    point = winner["hparams"]

    # 2. The winner on 20 seeds at horizon T: the targets.
    seeded = [point] * seeds
    phases.run(
        "seeds", winner_name, untargeted, seeded, lambda i: TARGET_SEEDS[i], lanes_of(winner_name)
    )
    reruns = book.get("seeds", winner_name, seeds)
    validation_target, test_target = _targets(workload, reruns)

    # 3 and 4. The budget, and the winner run as a submission within it.
    step_hint = budget(workload.step_hint)
    targeted = dataclasses.replace(
        workload,
        step_hint=step_hint,
        validation_target=validation_target,
        test_target=test_target,
    )
    # One at a time: each check run's own time to target is an honest CPU time.
    phases.run("check", winner_name, targeted, seeded, lambda i: CHECK_SEEDS[i], 1, True)
    checks = book.get("check", winner_name, seeds)
    bar.close()
    return {
        # Exact values: rounding could lift a target above the values it came from.
        "validation_target": validation_target,
        "test_target": test_target,
        "step_hint": step_hint,
        "provenance": {
            "procedure": __doc__.strip().splitlines()[0],
            "horizon": workload.step_hint,
            "budget_rule": "step_hint = ceil(4/3 * horizon)",
            "search_seed": search_seed,
            **_search_record(workload, spaces, search, winner_name, point),
            "seeds": list(TARGET_SEEDS[:seeds]),
            "best_validation_per_seed": [_finite(r["best"]) for r in reruns],
            "test_at_best_per_seed": [r["test_at_best"] for r in reruns],
            "check": _check_record(checks, seeds),
            "journal": os.path.relpath(journal, ROOT),
            "seconds": round(sum(r["wall_seconds"] for r in book.records.values()), 1),
            "machine": io.machine(),
            "versions": io.versions(),
            "date": datetime.date.today().isoformat(),
        },
    }


def _search_record(workload, spaces, search, winner_name, point) -> dict:
    return {
        "trials_per_optimizer": {name: len(runs) for name, runs in search.items()},
        "search_spaces": spaces,
        "best_per_optimizer": {name: _best_of(workload, runs) for name, runs in search.items()},
        "winner": {"optimizer": winner_name, "submission": REFERENCES[winner_name]},
        "best_hparams": point,
    }


class _Phases:
    """Runs a phase's missing trials into the journal, ``lanes`` at a time."""

    def __init__(self, book: Journal, bar):
        self.book, self.bar = book, bar

    def run(self, phase, optimizer, wl, chosen, seed_of, lanes, stop_at_target=False) -> None:
        submission = load_submission(REFERENCES[optimizer])
        todo = self.book.missing(phase, optimizer, len(chosen))
        for group in planning.groups(len(todo), lanes):
            ids = [todo[g] for g in group]
            tic = time.perf_counter()
            results = planning.run_points(
                wl,
                submission,
                [chosen[i] for i in ids],
                [seed_of(i) for i in ids],
                lanes,
                stop_at_target,
            )
            wall = round((time.perf_counter() - tic) / len(ids), 3)
            self.book.add(
                [
                    {"phase": phase, "optimizer": optimizer, "index": i, "seed": seed_of(i)}
                    | _summary(wl, r)
                    | {"wall_seconds": wall}
                    for i, r in zip(ids, results, strict=True)
                ]
            )
            self.bar.update(len(ids))


def _winner(workload: Workload, search: dict) -> tuple[dict, str]:
    """The search's best run over every optimizer, and its optimizer."""
    winner, winner_name = None, None
    for name, runs in search.items():
        for r in runs:
            if _finite(r["best"]) is None:
                continue
            if winner is None or workload.better(r["best"], winner["best"]):
                winner, winner_name = r, name
    if winner is None:
        raise RuntimeError(f"{workload.name}: every target-setting run diverged")
    return winner, winner_name


def _targets(workload: Workload, reruns: list[dict]) -> tuple[float, float]:
    """The validation target (the median best over seeds) and the test target
    (the worst test value, at their best, of the seeds that reach it)."""
    bests = [_finite(r["best"]) for r in reruns]
    validation_target = statistics.median(b for b in bests if b is not None)
    reached = [
        r for r, b in zip(reruns, bests, strict=True) if workload.reached(b, validation_target)
    ]
    tests = [r["test_at_best"] for r in reached]
    return validation_target, min(tests) if workload.higher_is_better else max(tests)


def _check_record(checks: list[dict], seeds: int) -> dict:
    return {
        "seeds": list(CHECK_SEEDS[:seeds]),
        "reached": sum(r["status"] == "target_reached" for r in checks),
        "of": seeds,
        "steps_to_target_per_seed": [r["steps_to_target"] for r in checks],
        "time_to_target_per_seed": [r["time_to_target"] for r in checks],
    }


def _best_of(workload: Workload, runs: list[dict]):
    values = [r["best"] for r in runs if _finite(r["best"]) is not None]
    if not values:
        return None
    return min(values) if not workload.higher_is_better else max(values)


def baseline_list(journals: dict[str, str], workloads: dict, optimizer: str, length: int = 5):
    """A ``length``-point hyperparameter list for ``optimizer``, built greedily
    (``lists.build``) from its target-setting searches on ``workloads``.

    Every workload's search ran the same quasi-random points (one Halton stream
    per optimizer), so point i is one hyperparameter setting tried everywhere.
    A point's outcome on a workload is its rank there by best validation value
    (1 = best; a diverged run ranks last), so the list covers the workloads the
    way Medapati et al.'s lists do, without needing a target the search runs
    were not given."""
    import numpy as np
    import pandas as pd

    from algoperf_lite.analysis import lists

    columns, points = {}, {}
    for name, path in journals.items():
        w = workloads[name]
        runs = Journal(path, w.definition_hash).records
        search = {
            i: r for (phase, opt, i), r in runs.items() if phase == "search" and opt == optimizer
        }
        values = pd.Series({i: _finite(r["best"]) for i, r in search.items()}, dtype=float)
        signed = values if not w.higher_is_better else -values
        columns[name] = signed.rank(method="min", na_option="bottom")
        points.update({i: r["hparams"] for i, r in search.items()})
    ranks = pd.DataFrame(columns).dropna()
    if ranks.empty:
        raise RuntimeError(f"no finished {optimizer} search runs in the journals")
    chosen = lists.build(ranks.astype(float).where(np.isfinite(ranks), np.inf), length)
    return [points[i] for i in chosen]
