"""Reading experiment folders for scoring: targets, and the time each trial
took to reach its target.

Experiment folders are ``<dir>/study_<k>/<workload>_jax/trial_<i>/eval_measurements.csv``
(a folder without a study level counts as one study). Targets come from our
``result.json``, else from the workload registry, else from a ``--targets``
JSON file ``{workload: {"metric": "validation/accuracy", "target": 0.97}}``,
which is how AlgoPerf's own experiment folders are scored. A trial's time is
its first evaluation whose validation metric reaches the target (``<=`` for
minimized metrics); a miss is infinity.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re

import numpy as np

from algoperf_lite.core import io
from algoperf_lite.core.errors import UserError
from algoperf_lite.train import records

TIME_COLUMNS = {"steps": ("global_step",), "seconds": ("accumulated_submission_time", "score")}
MINIMIZED = ("loss", "error_rate", "wer", "ctc_loss", "l1_loss", "ce_loss")
_WORKLOAD_DIR = re.compile(r"^(.*)_(jax|pytorch)$")


@dataclasses.dataclass(frozen=True)
class Target:
    metric: str  # an eval_measurements.csv column, e.g. "validation/accuracy"
    value: float
    higher_is_better: bool


def direction(metric: str) -> bool:
    """AlgoPerf's convention: losses and error rates are minimized."""
    return not metric.split("/")[-1].endswith(MINIMIZED)


def _target(workload: str, trial_dirs: list[str], targets: dict | None) -> Target:
    """The target to score against: a ``--targets`` file's, else the registry's,
    else the one the trials ran against (their result.json)."""
    if targets and workload in targets:
        entry = targets[workload]
        return Target(entry["metric"], float(entry["target"]), direction(entry["metric"]))
    from workloads import WORKLOADS

    if workload in WORKLOADS and WORKLOADS[workload].validation_target is not None:
        w = WORKLOADS[workload]
        return Target(w.metric_column, w.validation_target, w.higher_is_better)
    for folder in trial_dirs:
        path = os.path.join(folder, io.RESULT_FILE)
        if os.path.exists(path):
            stored = _read_json(path)
            if isinstance(stored, dict) and stored.get("target") is not None:
                metric = stored["metric"]
                return Target(metric, float(stored["target"]), direction(metric))
    raise UserError(
        f"no target known for workload '{workload}'; pass --targets FILE with "
        f'{{"{workload}": {{"metric": "validation/...", "target": ...}}}}'
    )


def read_targets(path: str) -> dict:
    """``{workload: {"metric": column, "target": value}}`` from a JSON file, checked."""
    targets = _read_json(path)
    ok = isinstance(targets, dict) and all(
        isinstance(v, dict)
        and isinstance(v.get("metric"), str)
        and v["metric"].startswith("validation/")
        and isinstance(v.get("target"), (int, float))
        and not isinstance(v.get("target"), bool)
        and math.isfinite(v["target"])
        for v in targets.values()
    )
    if not ok:
        raise UserError(
            f'{path} must map each workload to {{"metric": "validation/...", "target": number}}'
        )
    return targets


def _read_json(path: str):
    try:
        return io.read_json(path)
    except (OSError, ValueError) as e:  # ValueError: bad JSON or not UTF-8
        reason = "not UTF-8" if isinstance(e, UnicodeDecodeError) else e
        raise UserError(f"cannot read {path}: {reason}; remove or repair the file") from None


def read_rows(path: str) -> list[dict]:
    """The rows of an ``eval_measurements.csv``, refusing a damaged file."""
    try:
        with open(path, newline="") as f:
            text = f.read()
        rows = list(csv.DictReader(text.splitlines()))
    except FileNotFoundError:
        raise UserError(f"{path} is missing; rerun that trial") from None
    except (OSError, csv.Error, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}; remove or repair the file") from None
    if text and not text.endswith("\n"):
        raise UserError(f"{path} is truncated (its last line is incomplete); rerun that trial")
    if any(None in row or None in row.values() for row in rows):
        raise UserError(f"{path} has rows with a wrong number of fields; rerun that trial")
    return rows


def trial_time(path: str, target: Target, time: str = "steps") -> float:
    """Time column at the first evaluation that reaches the target; inf if none."""
    rows = read_rows(path)
    if not rows:
        return math.inf
    time_column = next((c for c in TIME_COLUMNS[time] if c in rows[0]), None)
    for column in (target.metric, time_column):
        if column is None or column not in rows[0]:
            missing = column or "/".join(TIME_COLUMNS[time])
            raise UserError(f"{path} has no '{missing}' column; it is not an eval_measurements.csv")
    try:  # the whole file must parse: a damaged later row means a damaged file
        series = [(float(r[target.metric]), float(r[time_column])) for r in rows]
        steps = [float(r["global_step"]) for r in rows]
    except (TypeError, ValueError, KeyError):
        raise UserError(
            f"{path}: non-numeric value in '{target.metric}', '{time_column}' or "
            "'global_step'; remove or repair the file"
        ) from None
    times = [at for _, at in series]
    finite = all(map(math.isfinite, steps + times))
    increasing = all(a < b for a, b in zip(steps, steps[1:], strict=False)) and all(
        a <= b for a, b in zip(times, times[1:], strict=False)
    )
    if not (finite and increasing):
        raise UserError(
            f"{path}: 'global_step' or '{time_column}' is not finite and increasing; "
            "remove or repair the file"
        )
    for value, at in series:
        reached = value >= target.value if target.higher_is_better else value <= target.value
        if reached and math.isfinite(value):
            return at
    return math.inf


@dataclasses.dataclass
class Experiment:
    """One submission's results: per workload, each study's time (its fastest
    trial) and how many of its trials reached the target."""

    studies: dict[str, list[float]]
    reached: dict[str, tuple[int, int]]  # workload -> (trials that reached, trials)

    def times(self) -> dict[str, float]:
        """The workload's time: the median over studies (AlgoPerf's rule)."""
        return {w: float(np.median(v)) for w, v in self.studies.items()}


def read_experiment(
    experiment: str,
    time: str = "steps",
    targets: dict | None = None,
    seen: dict | None = None,
    verify: bool = True,
    allow_mixed: bool = False,
) -> Experiment:
    """Study times and reached counts of one experiment folder.

    With ``verify`` (the default) every trial is cross-checked against its
    ``result.json`` and the experiment's manifest (see ``records``); without
    it, the CSVs are taken as they are (AlgoPerf's own folders). ``seen``
    collects, per workload, the (definition hash, target) of every trial with
    a ``result.json``, so that mixed definitions can be refused."""
    if not os.path.isdir(experiment):
        raise UserError(f"experiment folder not found: {experiment}")
    seen = {} if seen is None else seen
    folders = records.trial_folders(experiment)
    ours = verify or any(os.path.exists(os.path.join(t, io.RESULT_FILE)) for t in folders)
    manifest = records.read_manifest(experiment) if verify else None
    stored = {t: _finished(t) if ours else None for t in folders}
    if verify:
        records.check_launched(experiment, manifest, folders)
    per_workload: dict[str, list[float]] = {}
    reached: dict[str, tuple[int, int]] = {}
    for (_, workload), trials in sorted(_by_study(folders).items()):
        target = _target(workload, trials, targets)
        times = []
        for t in trials:
            path = os.path.join(t, io.MEASUREMENTS_FILE)
            result = stored[t]
            if result is not None:
                key = (result.get("workload_hash", ""), result.get("target"))
                seen.setdefault(workload, {}).setdefault(key, t)
            if verify:
                _verify(t, workload, result, manifest, allow_mixed, targets is not None)
            if os.path.exists(path) or verify:
                times.append(trial_time(path, target, time))
        per_workload.setdefault(workload, []).append(min(times, default=math.inf))
        hits, total = reached.get(workload, (0, 0))
        reached[workload] = (hits + sum(map(math.isfinite, times)), total + len(trials))
    if not per_workload:
        raise UserError(
            f"{experiment} holds no <workload>_jax/trial_<i> folders; "
            "pass an experiment folder written by 'algoperf-lite tune' or AlgoPerf"
        )
    return Experiment(per_workload, reached)


def _by_study(folders: list[str]) -> dict[tuple[str, str], list[str]]:
    """Trial folders grouped by (study folder, workload)."""
    by_study: dict[tuple[str, str], list[str]] = {}
    for t in folders:
        study, wdir = os.path.dirname(os.path.dirname(t)), os.path.dirname(t)
        match = _WORKLOAD_DIR.match(os.path.basename(wdir))
        if match:
            by_study.setdefault((study, match.group(1)), []).append(t)
    return by_study


def _verify(trial, workload, result, manifest, allow_mixed: bool, own_targets: bool) -> None:
    """A trial's records agree with the registry, the manifest and its measurements."""
    _check_against_registry(trial, workload, result, allow_mixed or own_targets)
    records.verify_trial(
        trial,
        result,
        manifest,
        read_rows(os.path.join(trial, io.MEASUREMENTS_FILE)),
        direction(result.get("metric", "")),
        check_status=not allow_mixed,
    )


def _finished(trial: str) -> dict:
    """A trial's result.json, refusing an unfinished trial."""
    result = records.read_result(trial)
    if result is None or result.get("status") == io.RUNNING:
        raise UserError(
            f"{trial} is unfinished; rerun the same tune command to finish it before scoring"
        )
    return result


def _check_against_registry(trial: str, workload: str, result: dict, allow_mixed: bool) -> None:
    """A registered workload's trials must have run against its current target and budget."""
    from workloads import WORKLOADS

    w = WORKLOADS.get(workload)
    if w is None or allow_mixed:
        return
    ran = (result.get("target"), result.get("step_hint"))
    if ran != (w.validation_target, w.step_hint):
        raise UserError(
            f"{trial} ran against different workload definitions or targets than the "
            f"registry's (target {ran[0]}, step_hint {ran[1]}; now {w.validation_target}, "
            f"{w.step_hint}); rerun it, or pass --allow-mixed"
        )


def experiment_times(
    experiment: str, time: str = "steps", targets: dict | None = None, seen: dict | None = None
) -> dict[str, float]:
    """{workload: median over studies of the fastest trial's time} for one folder."""
    return read_experiment(experiment, time, targets, seen).times()
