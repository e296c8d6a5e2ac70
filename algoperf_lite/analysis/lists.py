"""Pre-computed hyperparameter lists, built greedily from a sweep and evaluated
leave-one-workload-out (our reading of Medapati et al. 2025 and of the
TaskSet lists of Metz et al. 2020; the exact cost is our choice, stated here).

The sweep table gives ``steps[p, w]``: the steps point ``p`` took to reach
workload ``w``'s validation target (read off its stored learning curve; a
miss is infinity). Outcomes are normalized per workload so that workloads
with different step scales weigh the same::

    o[p, w] = min_q steps[q, w] / steps[p, w]      in (0, 1]; 0 for a miss

A list L is run the way AlgoPerf's external tuning runs a study: all its
points, keeping the fastest; so its outcome on ``w`` is ``max_{p in L} o[p, w]``.
The cost of a list over training workloads W is::

    cost(L) = mean_{w in W} (1 - max_{p in L} o[p, w])

0 when the list holds the fastest point of every workload, 1 when it misses
every target. Greedy building appends, at each step, the point that lowers
this cost most (ties: the larger sum of outcomes, then the lower point id).
A miss costs as much as it can (o = 0), so the list covers targets first and
speed second.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd

from algoperf_lite.core.errors import UserError

HP_PREFIX = "hp/"


def steps_table(frame: pd.DataFrame, workloads: dict, seed: int = 0) -> pd.DataFrame:
    """``steps[point, workload]`` to each workload's registered target within its step
    budget (inf: miss); curves longer than the budget are read only up to it."""
    frame = frame[frame["seed"] == seed]
    unknown = sorted(set(frame["workload"]) - set(workloads))
    if unknown:
        raise UserError(f"the sweep holds workload '{unknown[0]}', which is not registered")
    columns = {}
    for name, group in frame.groupby("workload"):
        w = workloads[name]
        values = group["value"].to_numpy(float)
        with np.errstate(invalid="ignore"):
            ok = (
                values >= w.validation_target
                if w.higher_is_better
                else values <= w.validation_target
            )
        within = group["global_step"].to_numpy() <= w.step_hint
        hits = group[ok & np.isfinite(values) & within]
        first = hits.groupby("point")["global_step"].min()
        points = sorted(group["point"].unique())
        columns[name] = first.reindex(points).astype(float).fillna(math.inf)
    return pd.DataFrame(columns).sort_index()


def hparams_of(frame: pd.DataFrame, point: int) -> dict:
    row = frame[frame["point"] == point].iloc[0]
    return {c[len(HP_PREFIX) :]: float(row[c]) for c in frame.columns if c.startswith(HP_PREFIX)}


def outcomes(steps: pd.DataFrame) -> pd.DataFrame:
    best = steps.min(axis=0)
    o = best / steps
    return o.where(np.isfinite(steps), 0.0).fillna(0.0)


def cost(o: pd.DataFrame, points: list[int]) -> float:
    if not points:
        return 1.0
    return float((1.0 - o.loc[points].max(axis=0)).mean())


def build(steps: pd.DataFrame, length: int = 5) -> list[int]:
    """Greedy list of point ids over the workloads (columns) of ``steps``."""
    if length < 1:
        raise UserError("--length must be at least 1")
    o = outcomes(steps)
    chosen: list[int] = []
    for _ in range(min(length, len(o))):
        current = o.loc[chosen].max(axis=0) if chosen else pd.Series(0.0, index=o.columns)
        gain = np.maximum(o.to_numpy(), current.to_numpy()).mean(axis=1)
        order = np.lexsort((o.index.to_numpy(), -o.sum(axis=1).to_numpy(), -gain))
        chosen.append(int(next(o.index[i] for i in order if o.index[i] not in chosen)))
    return chosen


def best_of_prefixes(values: np.ndarray, max_k: int) -> list[float]:
    """Best (lowest) steps among the first k entries, k = 1..max_k."""
    return [float(np.min(values[:k])) if len(values) else math.inf for k in range(1, max_k + 1)]


def random_subsets(values: np.ndarray, k: int, draws: int, rng) -> np.ndarray:
    """Best of ``k`` distinct entries drawn at random, ``draws`` times."""
    k = min(k, len(values))
    picks = np.argsort(rng.random((draws, len(values))), axis=1)[:, :k]
    return values[picks].min(axis=1)


def summarize(samples: np.ndarray) -> dict:
    """Median and 95% interval of best-of-k steps (inf counts as a miss)."""
    lo, med, hi = np.percentile(samples, [2.5, 50, 97.5], method="lower")
    return {
        "median": float(med),
        "low": float(lo),
        "high": float(hi),
        "p_miss": float(np.mean(~np.isfinite(samples))),
    }


def leave_one_out(
    steps: pd.DataFrame,
    length: int = 5,
    baselines: dict[str, pd.DataFrame] | None = None,
    random_baselines: dict[str, pd.DataFrame] | None = None,
    draws: int = 2000,
    seed: int = 0,
    excluded: Mapping[str, Collection[str]] | None = None,
) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """Leave-one-workload-out table and the list built for each held-out workload.

    ``excluded[w]`` names more workloads kept out of the list held out for
    ``w`` (its family, for leave-one-family-out: see ``family_members``).

    Rows: held-out workload x k x method with best-of-k steps (median and 95%
    interval where the method is random). Methods: ``list`` (built on the
    other workloads), ``quasi-random`` (k points drawn from the sweep),
    each of ``random_baselines`` (k points drawn from its table, e.g. a grid),
    and each of ``baselines`` (a fixed order: the first k points; with a
    ``seed`` column, e.g. TPE runs, the median over seeds).
    """
    rng = np.random.default_rng(seed)
    rows, lists = [], {}
    if steps.shape[1] < 2:
        raise UserError("leave-one-workload-out needs a sweep over at least 2 workloads")
    for held_out in steps.columns:
        unseen = {held_out, *(excluded or {}).get(held_out, ())}
        training = steps.drop(columns=[c for c in steps.columns if c in unseen])
        if training.shape[1] == 0:
            raise UserError(f"no training workload is left when '{held_out}' is held out")
        chosen = build(training, length)
        lists[held_out] = chosen
        target = steps[held_out]
        for k, v in enumerate(best_of_prefixes(target.loc[chosen].to_numpy(), length), start=1):
            rows.append(
                dict(
                    workload=held_out,
                    k=k,
                    method="list",
                    median=v,
                    low=v,
                    high=v,
                    p_miss=float(not math.isfinite(v)),
                )
            )
        tables = {"quasi-random": steps, **(random_baselines or {})}
        for name, table in tables.items():
            values = table[held_out].to_numpy()
            for k in range(1, length + 1):
                s = summarize(random_subsets(values, k, draws, rng))
                rows.append(dict(workload=held_out, k=k, method=name, **s))
        for name, table in (baselines or {}).items():
            if held_out not in table:
                continue
            runs = [g for _, g in table.groupby("seed")] if "seed" in table else [table]
            per_run = np.array(
                [
                    best_of_prefixes(r.sort_values("order")[held_out].to_numpy(), length)
                    for r in runs
                ]
            )
            for k in range(1, length + 1):
                s = summarize(per_run[:, k - 1])
                rows.append(dict(workload=held_out, k=k, method=name, **s))
    return pd.DataFrame(rows), lists


def trials_to_match(steps: pd.Series, goal: float, draws: int = 2000, seed: int = 0) -> float:
    """Fewest random sweep points whose median best-of-k reaches ``goal`` steps."""
    rng = np.random.default_rng(seed)
    values = steps.to_numpy()
    for k in range(1, len(values) + 1):
        if np.median(random_subsets(values, k, draws, rng)) <= goal:
            return float(k)
    return math.inf


def family_members(family_of: Mapping[str, str]) -> dict[str, set[str]]:
    """For each workload, the other workloads of its family (a base and its
    variants share one family name)."""
    return {
        w: {v for v, f in family_of.items() if f == family and v != w}
        for w, family in family_of.items()
    }


def speed_up(steps: pd.Series, goal: float, length: int = 5) -> tuple[float, bool]:
    """How many times more trials quasi-random search needs than the list's
    ``length``: the fewest random sweep points whose median best-of-k reaches
    ``goal`` (the list's best of ``length``), divided by ``length``.

    A list that misses (``goal`` infinite) is matched by one random trial, so
    its speed-up is ``1 / length``. When no subset of the sweep matches, the
    value is censored at ``len(steps) / length`` and flagged (True)."""
    trials = trials_to_match(steps, goal)
    if math.isfinite(trials):
        return trials / length, False
    return len(steps) / length, True
