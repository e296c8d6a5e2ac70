"""Gradient-flow integrators compared at equal steps, gradient evaluations and time.

Our interpretation of Ma et al. (2024). On each offline base workload, each
method (``euler`` = plain SGD, ``heun``, ``rk4``, ``adams_bashforth``) runs the
workload's full step budget on ``SEEDS`` at learning rates of the half-decade
grid, extended until its best rate (best mean final validation metric, as a
tuner would pick it; a rate where any seed diverges counts as diverged) is
bracketed by worse rates on both sides (``claims.bracket``). The claims
compare final training losses at those rates. Then, at that rate, each method runs again with

* **equal gradient evaluations**: ``step_hint // GRAD_EVALS_PER_STEP`` steps;
* **equal time**: as many steps as fit in Euler's training time at its best
  rate, from each method's time per step measured alone (one seed, no vmap);

with the schedule's horizon set to the steps taken, so every run completes
its warmup and cosine decay. Every run is appended to
``results/integrators.jsonl`` as it finishes (a killed study resumes); the
report is rebuilt from it in seconds.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os

import ml_collections
import numpy as np
from tqdm import tqdm

from algoperf_lite.analysis.experiments import direction
from algoperf_lite.core import io
from algoperf_lite.loading import load_submission
from algoperf_lite.papers import claims
from algoperf_lite.train import planning
from algoperf_lite.train.loop import run_trial

METHODS = {
    "euler": "SGD (forward Euler)",
    "heun": "Heun (RK2)",
    "rk4": "RK4",
    "adams_bashforth": "Adams-Bashforth 3",
}
START = (-2, -1, 0)  # grid indices of the first rates tried: 0.1, 0.316, 1
SEEDS = (0, 1, 2, 3, 4)
LANES = 8
BUDGETS = ("equal steps", "equal gradient evaluations", "equal time")
DATA_FILE = "integrators.jsonl"


@functools.cache
def _horizon(workload, steps):
    """The workload with its schedule horizon at ``steps`` (one object per horizon,
    so runs at the same horizon share the compiled step)."""
    return dataclasses.replace(
        workload, step_hint=steps, eval_every=max(steps // 10, 1), validation_target=None
    )


def _summary(workload, submission):
    def summary(result):
        diverged = result.status == "diverged"
        last = result.rows[-1] if result.rows and not diverged else {}
        return {
            "steps": result.steps,
            "grad_evals": result.steps * submission.grad_evals_per_step,
            "seconds": result.submission_time_sec,
            "trials_per_step": result.trials_per_step,
            "status": result.status,
            "train_loss": last.get("train/loss"),
            "validation": last.get(workload.metric_column),
            "metric": workload.metric_column,
            "curve": [
                [r["global_step"] * submission.grad_evals_per_step, r["train/loss"]]
                for r in result.rows
            ],
        }

    return summary


def selection_value(run) -> float | None:
    """What picks a method's rate: its final validation metric (negated where
    higher is better), None where it diverged. Not the training loss: on
    separable logistic regression (digits_logreg) that keeps falling as the
    rate grows (up to 3e4, the most we tried), so it has no best rate to bracket."""
    value = run["validation"]
    if run["train_loss"] is None or value is None:
        return None
    return -value if direction(run["metric"]) else value


def _seconds_per_step(book, workload, submission, method, lr) -> float:
    """The method's time per step at ``lr``, trained alone (the clock of a vmapped
    group is shared, so it is not used for equal time)."""
    key = {"workload": workload.name, "method": method, "rate": lr, "budget": "timing"}
    if book.key_of({**key, "seed": 0}) not in book.records:
        result = run_trial(
            workload, submission, {"learning_rate": lr}, seed=0, stop_at_target=False
        )
        book.add([{**key, "seed": 0, "steps": result.steps, "seconds": result.submission_time_sec}])
    timed = book.records[book.key_of({**key, "seed": 0})]
    return timed["seconds"] / max(timed["steps"], 1)


def run_all(workloads, path: str, config=None, progress: bool = True) -> list[dict]:
    """Run (or resume) the study with ``config`` (default ``get_config()``:
    its methods, seeds and lanes); returns every run."""
    config = get_config() if config is None else config
    seeds, lanes = tuple(config.seeds), config.lanes
    book = claims.journal(path, workloads)
    bar = tqdm(
        total=len(workloads) * len(config.methods) * (len(START) + 3) * len(seeds),
        desc="integrators",
        unit="run",
        disable=not progress,
    )

    def cell(w, method, lr, budget, steps):
        sub = load_submission(method)
        horizon = _horizon(w, steps)
        width = planning.lanes_for(horizon, sub, lanes)
        record = {"workload": w.name, "method": method, "rate": lr, "budget": budget}
        runs = claims.run_cell(
            book, horizon, sub, record, {"learning_rate": lr}, seeds, width, _summary(w, sub)
        )
        bar.update(len(runs))
        return runs

    for w in workloads:
        chosen = {}
        for method in config.methods:

            def score(k, w=w, m=method):
                runs = cell(w, m, claims.rate(k), "equal steps", w.step_hint)
                return claims.mean_loss([selection_value(r) for r in runs])

            chosen[method] = claims.bracket(score, START).best
        per_step = {
            m: _seconds_per_step(book, w, load_submission(m), m, lr) for m, lr in chosen.items()
        }
        for method, lr in chosen.items():
            evals = load_submission(method).grad_evals_per_step
            plan = planned_steps(w.step_hint, evals, per_step[method], per_step["euler"])
            for budget, steps in plan.items():
                if steps != w.step_hint:  # else the equal-steps runs are this cell
                    cell(w, method, lr, budget, steps)
    bar.close()
    return load(path)


def load(path: str) -> list[dict]:
    return claims.load_runs(path)


@dataclasses.dataclass
class Study:
    """The runs arranged: each (workload, method)'s grid, and the runs of each
    (workload, method, budget) cell at the chosen rate, in seed order."""

    grids: dict
    cells: dict
    workloads: list
    metrics: dict
    methods: list  # those of METHODS that ran, in its order
    seeds: int  # seeds per cell


def planned_steps(full: int, evals: int, seconds: float, euler_seconds: float) -> dict:
    """The steps of each budget: ``full`` (equal steps), the same gradient
    evaluations as Euler's ``full`` steps, and the steps that fit in Euler's time
    (``seconds`` and ``euler_seconds``: time per step, measured alone)."""
    return {
        "equal steps": full,
        "equal gradient evaluations": full // evals,
        "equal time": max(int(euler_seconds * full / seconds), 1),
    }


def arrange(runs: list[dict]) -> Study:
    by_point: dict = {}
    for r in runs:
        if r["budget"] != "timing":
            by_point.setdefault((r["workload"], r["method"], r["budget"], r["rate"]), []).append(r)
    for point in by_point.values():
        point.sort(key=lambda r: r["seed"])
    timing = {
        (r["workload"], r["method"], r["rate"]): r["seconds"] / max(r["steps"], 1)
        for r in runs
        if r["budget"] == "timing"
    }
    workloads = sorted({r["workload"] for r in runs})
    methods = [m for m in METHODS if any(r["method"] == m for r in runs)]
    grids, cells = {}, {}
    for w in workloads:
        for m in methods:
            rates = sorted(k[3] for k in by_point if k[:3] == (w, m, "equal steps"))
            scores = [
                claims.mean_loss([selection_value(r) for r in by_point[(w, m, "equal steps", lr)]])
                for lr in rates
            ]
            grids[(w, m)] = claims.Bracket(rates, scores)
        full = max(r["steps"] for r in runs if r["workload"] == w and r["budget"] == "equal steps")
        euler = timing.get((w, "euler", grids[(w, "euler")].best))
        for m in methods:
            best = grids[(w, m)].best
            own = by_point.get((w, m, "equal steps", best), [])
            evals = own[0]["grad_evals"] // max(own[0]["steps"], 1) if own else 1
            seconds = timing.get((w, m, best))
            plan = planned_steps(full, evals, seconds or 1.0, euler or 1.0)
            for b in BUDGETS:
                if b == "equal time" and (seconds is None or euler is None):
                    cells[(w, m, b)] = []  # not timed yet
                elif plan[b] == full:  # the equal-steps runs are this cell
                    cells[(w, m, b)] = own
                else:
                    cells[(w, m, b)] = by_point.get((w, m, b, best), [])
    metrics = {r["workload"]: r["metric"] for r in runs if "metric" in r}
    seeds = len({r["seed"] for r in runs if r["budget"] != "timing"})
    return Study(grids, cells, workloads, metrics, methods, seeds)


def _losses(cell) -> list[float]:
    return [claims.finite_loss(r["train_loss"]) for r in cell]


def study_claims(study: Study) -> list[claims.Claim]:
    out = []
    for b in BUDGETS:
        for m in [m for m in study.methods if m != "euler"]:
            cells = [study.cells[(w, m, b)] for w in study.workloads]
            if b != "equal steps" and all(c and c[0]["budget"] == "equal steps" for c in cells):
                continue  # one gradient per step: the same runs as at equal steps
            # Only where both rates are bracketed: elsewhere a method is not at its best.
            fair = [
                w
                for w in study.workloads
                if study.grids[(w, m)].interior and study.grids[(w, "euler")].interior
            ]
            out.append(
                claims.paired_claim(
                    f"{METHODS[m]} ends below SGD (forward Euler) at {b}",
                    {w: _losses(study.cells[(w, m, b)]) for w in fair},
                    {w: _losses(study.cells[(w, "euler", b)]) for w in fair},
                )
            )
    return out


def _cell_text(cell) -> str:
    losses = [r["train_loss"] for r in cell]
    if not cell:
        return "-"
    if any(v is None for v in losses):
        return f"diverged on {sum(v is None for v in losses)} of {len(cell)} ({cell[0]['steps']})"
    vals = [r["validation"] for r in cell]
    return (
        f"{np.mean(losses):.4f} ± {np.std(losses):.4f} / {np.mean(vals):.4f} ({cell[0]['steps']})"
    )


def _rate_text(grid: claims.Bracket) -> str:
    below, above = grid.neighbours
    fmt = lambda lr: "-" if lr is None else f"{lr:g}"  # noqa: E731
    return f"{fmt(below)} < **{grid.best:g}** < {fmt(above)}"


def markdown(runs: list[dict]) -> str:
    study = arrange(runs)
    lines = [
        "# Gradient-flow integrators at equal steps, gradient evaluations and time",
        "",
        "Our interpretation of Ma et al. (2024): SGD is forward Euler on the gradient flow;",
        "Heun and RK4 spend 2 and 4 gradients per step, Adams-Bashforth 3 one gradient plus",
        f"history. Each method at its best learning rate on a half-decade grid extended "
        "until the best is bracketed (best mean final validation metric over "
        f"{study.seeds} seeds at equal steps, as a tuner would pick it; a rate where any "
        "seed diverges counts as diverged; our choice: by training loss, "
        "digits_logreg has no best rate, larger ones always ending lower up to 3e4). "
        "Equal time: the steps that fit in Euler's training time, from each "
        "method's time per step measured alone.",
        "Cells: mean ± sd final training loss / mean final validation metric over "
        f"{study.seeds} seeds (steps). Regenerate with `make reproduce` (from "
        "results/integrators.jsonl; FROM_SCRATCH=1 reruns it, resuming where it stopped).",
        "",
    ]
    for w in study.workloads:
        lines += [
            f"## {w} ({study.metrics.get(w, '')})",
            "",
            "| method | rates tried | below < chosen < above | " + " | ".join(BUDGETS) + " |",
            "|---" * (len(BUDGETS) + 3) + "|",
        ]
        for m in study.methods:
            label, grid = METHODS[m], study.grids[(w, m)]
            tried = ", ".join(f"{lr:g}" for lr in grid.rates)
            cells = [_cell_text(study.cells[(w, m, b)]) for b in BUDGETS]
            lines.append(f"| {label} | {tried} | {_rate_text(grid)} | " + " | ".join(cells) + " |")
        lines.append("")
    edges = [(w, m) for (w, m), g in study.grids.items() if not g.interior]
    lines += ["## Brackets", ""]
    if edges:
        lines.append(
            "**Failure of the study**: the best rate is at the edge of its grid for "
            + ", ".join(f"{METHODS[m]} on {w}" for w, m in edges)
            + f" (the grid stopped at {claims.MAX_RATES} rates); their comparisons are not at "
            "the method's best."
        )
    else:
        lines.append(
            f"Every method's chosen rate is interior on all {len(study.workloads)} workloads: "
            "both neighbours on the grid end worse (or diverge)."
        )
    lines.append("")
    lines += claims.claims_markdown(study_claims(study))
    return "\n".join(lines)


def plot(runs: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    study = arrange(runs)
    n = len(study.workloads)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, w in zip(axes.flat, study.workloads, strict=False):
        for m in study.methods:
            label, cell = METHODS[m], study.cells[(w, m, "equal steps")]
            curve = [(x, y) for x, y in (cell[0]["curve"] if cell else []) if y is not None]
            if curve:
                ax.plot(*zip(*curve, strict=True), label=label)
        ax.set_yscale("log")
        ax.set_title(w, fontsize=9)
        ax.set_xlabel("gradient evaluations")
        ax.set_ylabel("training loss (seed 0)")
    for ax in axes.flat[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(runs: list[dict], results_dir: str) -> list[str]:
    md, png = (
        os.path.join(results_dir, "integrators.md"),
        os.path.join(results_dir, "integrators.png"),
    )
    io.write_atomic(md, markdown(runs))
    plot(runs, png)
    return [md, png]


# The papers' protocol (see algoperf_lite.papers).
def get_config() -> ml_collections.ConfigDict:
    """Update rules from integrating the gradient flow (Ma et al., 2024) on the
    offline suite, at equal steps, gradient evaluations and time.

    Table and plot from the committed runs (seconds):
        python scripts/reproduce.py --paper integrators
    Rerun (resume) the runs first (about 40 min on 2 CPU cores):
        python scripts/reproduce.py --rerun integrators --integrators.seeds=0,1
    """
    config = ml_collections.ConfigDict()
    config.suite = "offline"
    config.data_file = DATA_FILE
    config.methods = tuple(METHODS)
    config.seeds = SEEDS
    config.lanes = LANES
    return config


def run(config: ml_collections.ConfigDict, results: str) -> None:
    """The runs behind the table, resumable from their journal."""
    from workloads import suite

    run_all(suite(config.suite), os.path.join(results, config.data_file), config)


def report(config: ml_collections.ConfigDict, results: str) -> list[str]:
    return write(load(os.path.join(results, config.data_file)), results)
