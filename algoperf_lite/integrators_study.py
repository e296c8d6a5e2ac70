"""Gradient-flow integrators compared at equal steps, gradient evaluations and time.

Our interpretation of Ma et al. (2024). On each offline workload, each method
(``euler`` = plain SGD, ``heun``, ``rk4``, ``adams_bashforth``) first runs the
workload's full step budget at each learning rate of :data:`LEARNING_RATES`;
the rate with the lowest final training loss is kept for that method. Then,
at that rate, each method runs again with

* **equal gradient evaluations**: ``step_hint // GRAD_EVALS_PER_STEP`` steps;
* **equal time**: as many steps as fit in Euler's training time at its best
  rate, from the method's measured time per step;

with the schedule's horizon set to the steps taken, so every run completes
its warmup and cosine decay. Runs are stored (with loss curves) in
``results/integrators.json``; the report is rebuilt from it in seconds.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os

from tqdm import tqdm

from algoperf_lite import io
from algoperf_lite.runner import run_trial
from algoperf_lite.spec import load_submission

METHODS = {
    "euler": "SGD (forward Euler)",
    "heun": "Heun (RK2)",
    "rk4": "RK4",
    "adams_bashforth": "Adams-Bashforth 3",
}
LEARNING_RATES = (0.1, 0.3, 1.0)
BUDGETS = ("equal steps", "equal gradient evaluations", "equal time")
DATA_FILE = "integrators.json"


@functools.cache
def _horizon(workload, steps):
    """The workload with its schedule horizon at ``steps`` (one object per horizon,
    so runs at the same horizon share the compiled step)."""
    return dataclasses.replace(
        workload, step_hint=steps, eval_every=max(steps // 10, 1), validation_target=None
    )


def _run(workload, method, lr, steps):
    horizon = _horizon(workload, steps)
    sub = load_submission(method)
    result = run_trial(horizon, sub, {"learning_rate": lr}, seed=0, stop_at_target=False)
    last = result.rows[-1] if result.rows else {}
    return {
        "workload": workload.name,
        "method": method,
        "learning_rate": lr,
        "steps": result.steps,
        "grad_evals": result.steps * sub.grad_evals_per_step,
        "seconds": result.submission_time_sec,
        "status": result.status,
        "train_loss": last.get("train/loss", math.nan) if result.status != "diverged" else math.nan,
        "validation": last.get(workload.metric_column, math.nan),
        "metric": workload.metric_column,
        "curve": [
            [r["global_step"] * sub.grad_evals_per_step, r["train/loss"]] for r in result.rows
        ],
    }


def _loss(run) -> float:
    value = run["train_loss"]
    return math.inf if value is None or not math.isfinite(value) else value


def run_all(workloads, path: str, progress: bool = True) -> list[dict]:
    runs = []
    bar = tqdm(
        total=len(workloads) * len(METHODS) * (len(LEARNING_RATES) + 2),
        desc="integrators",
        unit="run",
        disable=not progress,
    )
    for w in workloads:
        best = {}
        for method in METHODS:
            tried = []
            for lr in LEARNING_RATES:
                tried.append({**_run(w, method, lr, w.step_hint), "budget": "equal steps"})
                bar.update()
            best[method] = min(tried, key=_loss)
            runs += tried
        euler_seconds = best["euler"]["seconds"]
        for method, chosen in best.items():
            evals = load_submission(method).grad_evals_per_step
            per_step = chosen["seconds"] / max(chosen["steps"], 1)
            plan = {
                "equal gradient evaluations": w.step_hint // evals,
                "equal time": max(int(euler_seconds / per_step), 1),
            }
            for budget, steps in plan.items():
                runs.append({**_run(w, method, chosen["learning_rate"], steps), "budget": budget})
                bar.update()
    bar.close()
    io.write_json(path, _jsonable(runs))
    return runs


def _jsonable(runs):
    return json.loads(json.dumps(runs, default=float).replace("NaN", "null"))


def load(path: str) -> list[dict]:
    return io.read_json(path)


def best_runs(runs: list[dict]) -> dict:
    """{(workload, method, budget): run}, equal-steps runs at each method's best rate."""
    out = {}
    for r in runs:
        key = (r["workload"], r["method"], r["budget"])
        if r["budget"] != "equal steps" or key not in out or _loss(r) < _loss(out[key]):
            out[key] = r
    return out


def markdown(runs: list[dict]) -> str:
    best = best_runs(runs)
    workloads = sorted({r["workload"] for r in runs})
    lines = [
        "# Gradient-flow integrators at equal steps, gradient evaluations and time",
        "",
        "Our interpretation of Ma et al. (2024): SGD is forward Euler on the gradient flow;",
        "Heun and RK4 spend 2 and 4 gradients per step, Adams-Bashforth 3 one gradient plus",
        "history. Each method at its best learning rate of "
        f"{', '.join(map(str, LEARNING_RATES))} (lowest final training loss at equal steps).",
        "Cells: final training loss / final validation metric (steps). Regenerate with",
        "`make reproduce` (from results/integrators.json; FROM_SCRATCH=1 reruns it).",
        "",
    ]
    for w in workloads:
        metric = next(r["metric"] for r in runs if r["workload"] == w)
        lines += [
            f"## {w} ({metric})",
            "",
            "| method | lr | " + " | ".join(BUDGETS) + " |",
            "|---" * (len(BUDGETS) + 2) + "|",
        ]
        for m, label in METHODS.items():
            cells = []
            for b in BUDGETS:
                r = best.get((w, m, b))
                if r is None:
                    cells.append("-")
                elif not math.isfinite(_loss(r)):
                    cells.append(f"diverged ({r['steps']})")
                else:
                    cells.append(f"{r['train_loss']:.4f} / {r['validation']:.4f} ({r['steps']})")
            lr = best[(w, m, "equal steps")]["learning_rate"]
            lines.append(f"| {label} | {lr} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Verdict", ""] + _verdict(best, workloads) + [""]
    return "\n".join(lines)


def _verdict(best, workloads) -> list[str]:
    out = []
    for b in BUDGETS:
        wins = {m: 0 for m in METHODS}
        for w in workloads:
            winner = min(METHODS, key=lambda m: _loss(best[(w, m, b)]))
            wins[winner] += 1
        parts = ", ".join(f"{METHODS[m]} {n}" for m, n in wins.items() if n)
        out.append(f"- At {b}, lowest training loss (workloads won): {parts}.")
    beaten = [
        w
        for w in workloads
        for m in ("heun", "rk4")
        if _loss(best[(w, m, "equal gradient evaluations")])
        < _loss(best[(w, "euler", "equal steps")])
    ]
    edge = [
        k
        for k, r in best.items()
        if k[2] == "equal steps" and r["learning_rate"] == max(LEARNING_RATES)
    ]
    if edge:
        out.append(
            f"- Caveat: the best rate is the largest tried ({max(LEARNING_RATES)}) for "
            f"{len(edge)} of {len(workloads) * len(METHODS)} (workload, method) pairs; a "
            "wider grid could change the rankings."
        )
    out.append(
        "- Higher order pays only if it wins at equal gradient evaluations or equal time; "
        f"Heun or RK4 beat Euler at equal gradient evaluations in {len(beaten)} of "
        f"{2 * len(workloads)} (method, workload) pairs."
    )
    return out


def plot(runs: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = best_runs(runs)
    workloads = sorted({r["workload"] for r in runs})
    fig, axes = plt.subplots(1, len(workloads), figsize=(4.2 * len(workloads), 3.5), squeeze=False)
    axes = axes[0]
    for ax, w in zip(axes, workloads, strict=True):
        for m, label in METHODS.items():
            curve = [
                (x, y)
                for x, y in best[(w, m, "equal steps")]["curve"]
                if y is not None and math.isfinite(y)
            ]
            if curve:
                ax.plot(*zip(*curve, strict=True), label=label)
        ax.set_yscale("log")
        ax.set_title(w, fontsize=9)
        ax.set_xlabel("gradient evaluations")
    axes[0].set_ylabel("training loss")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(runs: list[dict], results_dir: str) -> list[str]:
    md, png = (
        os.path.join(results_dir, "integrators.md"),
        os.path.join(results_dir, "integrators.png"),
    )
    io.write_atomic(md, markdown(runs))
    plot(runs, png)
    return [md, png]
