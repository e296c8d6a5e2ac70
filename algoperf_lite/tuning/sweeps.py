"""Sweeps as data: many hyperparameter points x workloads, one record per trial.

A sweep runs every point to the full step budget (no early stop at the
target), so that steps to *any* target can be read off its learning curves
later: lists and analyses are rebuilt from the stored table in seconds.

Records are appended to a JSON-lines file as each trial finishes, so a killed
sweep resumes where it stopped; ``compact`` turns them into one gzipped CSV in
long form (one row per evaluation) for committing.
"""

from __future__ import annotations

import json
import os

import pandas as pd
from tqdm import tqdm

from algoperf_lite.core.spec import Submission, Workload
from algoperf_lite.train import loop, planning
from algoperf_lite.train.loop import run_trial

CURVE_COLUMNS = ("global_step", "score", "train/loss")
OPTIONAL_COLUMNS = ("validation/loss",)  # kept when the workload reports it


def append(path: str):
    """Open for appending; a line cut short by a kill is closed first so the
    next record starts on its own line (the cut one is ignored and rerun)."""
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            cut = f.read(1) != b"\n"
        if cut:
            with open(path, "a") as f:
                f.write("\n")
    return open(path, "a")


class Journal:
    """Finished runs appended to a JSON-lines file as they finish, keyed by the
    fields ``key``. Each line is stamped with its workload's definition hash; a
    line of another definition (the model, data or horizon changed since) is not
    read back, so a changed workload starts afresh. ``definition`` is the hash,
    or a function of a record giving the hash of its workload."""

    def __init__(self, path: str, key: tuple[str, ...], definition):
        self.path, self.key = path, tuple(key)
        self.definition = definition if callable(definition) else (lambda record: definition)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.records = {
            self.key_of(r): r
            for r in read_records(path)
            if r.get("workload_hash") == self.definition(r)
        }

    def key_of(self, record: dict) -> tuple:
        return tuple(record[k] for k in self.key)

    def add(self, records: list[dict]) -> None:
        with append(self.path) as f:
            for r in records:
                r = {**r, "workload_hash": self.definition(r)}
                f.write(json.dumps(r, allow_nan=False) + "\n")
                self.records[self.key_of(r)] = r
            f.flush()
            os.fsync(f.fileno())


def record(workload: Workload, point_id: int, seed: int, result) -> dict:
    column = workload.metric_column
    return {
        "workload": workload.name,
        "point": point_id,
        "seed": seed,
        "status": result.status,
        "hparams": result.hparams,
        "curve": [
            {
                **{k: row[k] for k in CURVE_COLUMNS},
                **{k: row[k] for k in OPTIONAL_COLUMNS if k in row},
                "value": row[column],
            }
            for row in result.rows
        ],
    }


def run_sweep(
    workloads: list[Workload],
    submission: Submission,
    points: list[dict],
    path: str,
    seed: int = 0,
    progress: bool = True,
    trials_per_step: int | None = None,
) -> list[dict]:
    """Run ``points`` on ``workloads`` (seed ``seed``), appending to ``path``.
    ``trials_per_step`` points are vmapped together (default: where it pays)."""
    done = {(r["workload"], r["point"], r["seed"]) for r in read_records(path)}
    todo = {w: [i for i in range(len(points)) if (w.name, i, seed) not in done] for w in workloads}
    bar = tqdm(total=sum(map(len, todo.values())), desc="sweep", unit="trial", disable=not progress)
    with append(path) as f:
        for w, ids in todo.items():
            k, mesh = planning.plan(w, submission, len(ids), trials_per_step)
            for group in planning.groups(len(ids), k):
                chosen = [ids[g] for g in group]
                if k == 1:
                    results = [
                        run_trial(w, submission, points[chosen[0]], seed=seed, stop_at_target=False)
                    ]
                else:
                    results = loop.run_trials(
                        w,
                        submission,
                        [points[i] for i in chosen],
                        [seed] * len(chosen),
                        stop_at_target=False,
                        mesh=mesh,
                        size=k,
                    )
                for i, result in zip(chosen, results, strict=True):
                    f.write(json.dumps(record(w, i, seed, result)) + "\n")
                f.flush()
                os.fsync(f.fileno())
                bar.update(len(chosen))
    bar.close()
    return read_records(path)


def _distributions(space):
    import optuna

    dists = {}
    for name, spec in space.items():
        if "feasible_points" in spec:
            dists[name] = optuna.distributions.CategoricalDistribution(spec["feasible_points"])
        else:
            log = spec["scaling"] == "log"
            dists[name] = optuna.distributions.FloatDistribution(spec["min"], spec["max"], log=log)
    return dists


def run_tpe(
    workloads: list[Workload],
    submission: Submission,
    space: dict,
    path: str,
    trials: int = 5,
    seeds: tuple[int, ...] = (0, 1, 2),
    startup_trials: int = 2,
    progress: bool = True,
) -> list[dict]:
    """optuna's TPE given ``trials`` trials per workload, once per seed.

    The objective is steps to target, a miss counting as twice the step
    budget. Seed ``s`` seeds both the sampler and training; record ``point``
    is the trial's position in the run. ``startup_trials`` random trials come
    before TPE models (optuna's default, 10, would make every trial random at
    this budget). Finished trials are fed back to the sampler on resume.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = _distributions(space)
    records = read_records(path)
    done = {(r["workload"], r["seed"], r["point"]): r for r in records}
    bar = tqdm(
        total=len(workloads) * len(seeds) * trials, desc="tpe", unit="trial", disable=not progress
    )
    with append(path) as f:
        for w in workloads:
            for seed in seeds:
                sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials)
                study = optuna.create_study(direction="minimize", sampler=sampler)
                for t in range(trials):
                    previous = done.get((w.name, seed, t))
                    if previous is not None:
                        params = {k: previous["hparams"][k] for k in dists}
                        study.add_trial(
                            optuna.trial.create_trial(
                                params=params, distributions=dists, value=previous["objective"]
                            )
                        )
                        bar.update()
                        continue
                    trial = study.ask(dists)
                    result = run_trial(w, submission, trial.params, seed=seed, stop_at_target=False)
                    objective = float(result.steps_to_target or 2 * w.step_hint)
                    study.tell(trial, objective)
                    done_trial = {**record(w, t, seed, result), "objective": objective}
                    f.write(json.dumps(done_trial) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                    bar.update()
    bar.close()
    return read_records(path)


def read_records(path: str) -> list[dict]:
    """Finished records; a line cut short by a kill is ignored (it is rerun)."""
    if not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def to_frame(records: list[dict]) -> pd.DataFrame:
    """Long form: one row per (workload, point, seed, evaluation), hparams as columns."""
    rows = []
    for r in records:
        base = {
            "workload": r["workload"],
            "point": r["point"],
            "seed": r["seed"],
            "status": r["status"],
            **{f"hp/{k}": v for k, v in r["hparams"].items()},
        }
        rows += [{**base, **c} for c in r["curve"]] or [base]
    return pd.DataFrame(rows)


def compact(records: list[dict], path: str) -> None:
    tmp = f"{path}.tmp"
    to_frame(records).to_csv(tmp, index=False, compression="gzip", float_format="%.6g")
    os.replace(tmp, path)


def load(path: str) -> pd.DataFrame:
    return pd.read_csv(path)


def finals(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trial: its last evaluation (hyperparameters as ``hp/`` columns)."""
    last = (
        frame.sort_values("global_step").groupby(["workload", "point", "seed"], sort=False).tail(1)
    )
    return last.sort_values(["workload", "point", "seed"]).reset_index(drop=True)
