"""Hypergradient descent (Baydin et al., 2018) in small, on our offline stand-ins
for the paper's three problems.

Problems: logistic regression (``digits_logreg``, for MNIST logreg), an MLP
(``mnist1d_mlp``, for the 784-1000-1000-10 MNIST MLP) and a CNN with batch
norm (``digits_cnn``, for VGG-16-BN on CIFAR-10). Methods, all from
alpha_0 = 1e-3 with the paper's settings: SGD, SGD-HD and SGDN, SGDN-HD
(beta = 1e-3, mu = 0.9), Adam, Adam-HD (beta = 1e-7; 1e-8 on the CNN, as the
paper used for VGG); L2 weight decay 1e-4 added to the gradient. A base
method is its HD variant with beta = 0, so both share one compiled step.
Each run takes the workload's full step budget (not the paper's epochs) on
``SEEDS`` seeds; the sensitivity runs vary alpha_0 from 1e-1 to 1e-6 on seed 0.
Runs with their curves are stored in ``results/hypergradient.json``.
"""

from __future__ import annotations

import math
import os
import statistics

from tqdm import tqdm

from algoperf_lite import io
from algoperf_lite.runner import run_trial
from algoperf_lite.spec import load_submission

PROBLEMS = {"logreg": "digits_logreg", "mlp": "mnist1d_mlp", "cnn": "digits_cnn"}
# The paper's own problems, run when their TFDS data are prepared.
TFDS_PROBLEMS = {"logreg": "mnist_logreg", "mlp": "mnist_mlp", "cnn": "cifar10_vgg16"}
# method -> (submission, fixed hyperparameters); beta is filled in per problem.
METHODS = {
    "SGD": ("sgd_hd", {"momentum": 0.0}),
    "SGD-HD": ("sgd_hd", {"momentum": 0.0}),
    "SGDN": ("sgd_hd", {"momentum": 0.9}),
    "SGDN-HD": ("sgd_hd", {"momentum": 0.9}),
    "Adam": ("adam_hd", {}),
    "Adam-HD": ("adam_hd", {}),
}
ALPHA_0 = 1e-3
ALPHAS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
WEIGHT_DECAY = 1e-4
SEEDS = (0, 1, 2)
DATA_FILE = "hypergradient.json"
TFDS_DATA_FILE = "hypergradient_tfds.json"

# The paper's final training / validation losses (authors' result files), and
# its peak alpha for the HD methods.
PAPER = {
    "logreg": {
        "SGD": (0.396, 0.374),
        "SGD-HD": (0.293, 0.288),
        "SGDN": (0.289, 0.285),
        "SGDN-HD": (0.261, 0.272),
        "Adam": (0.259, 0.272),
        "Adam-HD": (0.258, 0.272),
    },
    "mlp": {
        "SGD": (0.145, 0.149),
        "SGD-HD": (0.081, 0.097),
        "SGDN": (0.0065, 0.061),
        "SGDN-HD": (0.0070, 0.060),
        "Adam": (0.0068, 0.063),
        "Adam-HD": None,
    },
    "cnn": {
        "SGD": (0.719, 0.721),
        "SGD-HD": (0.396, 0.510),
        "SGDN": (0.104, 0.540),
        "SGDN-HD": (0.074, 0.442),
        "Adam": (0.137, 0.390),
        "Adam-HD": (0.025, 0.458),
    },
}
PAPER_PEAK_ALPHA = {
    "logreg": {"SGD-HD": 4.7e-2, "SGDN-HD": 4.9e-2, "Adam-HD": 1.16e-3},
    "mlp": {"SGD-HD": 5.0e-2, "SGDN-HD": 5.2e-2},
    "cnn": {"SGD-HD": 1.3e-1, "SGDN-HD": 3.3e-2, "Adam-HD": 1.0e-3},
}
PAPER_PROBLEM = {
    "logreg": "MNIST logreg, 10 epochs",
    "mlp": "MNIST MLP, 100 epochs",
    "cnn": "CIFAR-10 VGG-16, 100 epochs",
}


def beta(method: str, problem: str) -> float:
    if not method.endswith("-HD"):
        return 0.0
    if method == "Adam-HD":
        return 1e-8 if problem == "cnn" else 1e-7
    return 1e-3


def _run(problem, method, alpha0, seed, workloads, problems=PROBLEMS):
    workload = workloads[problems[problem]]
    name, fixed = METHODS[method]
    hparams = {
        **fixed,
        "learning_rate": alpha0,
        "hypergradient_lr": beta(method, problem),
        "weight_decay": WEIGHT_DECAY,
    }
    result = run_trial(workload, load_submission(name), hparams, seed=seed, stop_at_target=False)
    finite = result.status != "diverged"
    last = result.rows[-1] if result.rows and finite else {}
    return {
        "problem": problem,
        "workload": workload.name,
        "method": method,
        "alpha0": alpha0,
        "seed": seed,
        "status": result.status,
        "train_loss": last.get("train/loss"),
        "validation_loss": last.get("validation/loss"),
        "curve": [
            [r["global_step"], r["optimizer/learning_rate"], r["train/loss"], r["validation/loss"]]
            for r in result.rows
        ],
    }


def plan() -> list[tuple]:
    runs = [(p, m, ALPHA_0, s) for p in PROBLEMS for m in METHODS for s in SEEDS]
    runs += [(p, m, a, 0) for p in PROBLEMS for m in METHODS for a in ALPHAS if a != ALPHA_0]
    return runs


def tfds_ready() -> bool:
    """Whether the data of every TFDS problem are prepared."""
    from algoperf_lite.errors import UserError
    from workloads.tfds_suite import DATASETS, read_split

    try:
        for name in TFDS_PROBLEMS.values():
            read_split(DATASETS[name], "train", limit=1)
    except UserError:
        return False
    return True


def run_all(workloads, path: str, progress: bool = True, problems=PROBLEMS) -> list[dict]:
    runs = [
        _run(*args, workloads, problems)
        for args in tqdm(plan(), desc="hypergradient", unit="run", disable=not progress)
    ]
    io.write_json(path, _finite_or_null(runs))
    return runs


def _finite_or_null(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite_or_null(v) for v in obj]
    return obj


def load(path: str) -> list[dict]:
    return io.read_json(path)


def _value(x) -> float:
    return math.inf if x is None else x


def final_losses(runs) -> dict:
    """{(problem, method): (median train loss, median validation loss)} at alpha_0 = 1e-3."""
    out = {}
    for p in PROBLEMS:
        for m in METHODS:
            chosen = [
                r for r in runs if (r["problem"], r["method"], r["alpha0"]) == (p, m, ALPHA_0)
            ]
            out[(p, m)] = tuple(
                statistics.median(_value(r[k]) for r in chosen)
                for k in ("train_loss", "validation_loss")
            )
    return out


def peak_alpha(runs, problem, method) -> float:
    curve = next(
        r["curve"]
        for r in runs
        if (r["problem"], r["method"], r["alpha0"], r["seed"]) == (problem, method, ALPHA_0, 0)
    )
    return max(a for _, a, _, _ in curve)


# HD "no worse" than its base allows this relative slack for seed noise.
TOLERANCE = 0.01


def directions(finals) -> list[dict]:
    """Does HD end no worse than its base (training loss), as the paper found?"""
    out = []
    for p in PROBLEMS:
        for base in ("SGD", "SGDN", "Adam"):
            ours_base, ours_hd = finals[(p, base)][0], finals[(p, base + "-HD")][0]
            paper_base, paper_hd = PAPER[p][base], PAPER[p][base + "-HD"]
            out.append(
                {
                    "problem": p,
                    "pair": f"{base}-HD vs {base}",
                    "ours": ours_hd <= ours_base * (1 + TOLERANCE),
                    "paper": None if paper_hd is None else paper_hd[0] <= paper_base[0],
                }
            )
    return out


def _workloads(runs) -> dict:
    """problem -> the workload its runs used."""
    return {r["problem"]: r["workload"] for r in runs}


def _fmt(x) -> str:
    return "diverged" if not math.isfinite(x) else f"{x:.4f}"


def markdown(runs) -> str:
    finals = final_losses(runs)
    names = _workloads(runs)
    lines = [
        "# Hypergradient descent (Baydin et al., 2018), in small",
        "",
        "Workloads: "
        + ", ".join(f"{p} = `{w}`" for p, w in names.items())
        + f". alpha_0 = {ALPHA_0:g}, L2 {WEIGHT_DECAY:g}, mu = 0.9; beta = 1e-3 (SGD-HD, "
        "SGDN-HD), 1e-7 (Adam-HD; 1e-8 on the CNN). Full step budget of each workload "
        f"(the paper counted epochs on MNIST/CIFAR-10), median of {len(SEEDS)} seeds.",
        "Cells: final training loss / final validation loss; the paper's numbers are from "
        "its authors' result files and are on other data, so compare directions, not values.",
        "Regenerate with `make reproduce` (from results/hypergradient.json; FROM_SCRATCH=1 "
        "reruns it).",
        "",
        "| problem | | " + " | ".join(METHODS) + " |",
        "|---" * (len(METHODS) + 2) + "|",
    ]
    for p in PROBLEMS:
        ours = [f"{_fmt(finals[(p, m)][0])} / {_fmt(finals[(p, m)][1])}" for m in METHODS]
        paper = [
            "-" if PAPER[p][m] is None else f"{PAPER[p][m][0]:g} / {PAPER[p][m][1]:g}"
            for m in METHODS
        ]
        lines.append(f"| {p} | ours (`{names[p]}`) | " + " | ".join(ours) + " |")
        lines.append(f"| | paper ({PAPER_PROBLEM[p]}) | " + " | ".join(paper) + " |")
    lines += [
        "",
        "Peak alpha_t (seed 0; the paper's in brackets): "
        + "; ".join(
            f"{p}: "
            + ", ".join(
                f"{m} {peak_alpha(runs, p, m):.3g} ({PAPER_PEAK_ALPHA[p].get(m, '-')})"
                for m in METHODS
                if "HD" in m
            )
            for p in PROBLEMS
        )
        + ".",
        "",
        "## Does the paper's direction hold here?",
        "",
        f"HD counts as no worse when its final training loss is within {TOLERANCE:.0%} of "
        "its base's or below (our threshold).",
        "",
        "| problem | comparison | here | paper |",
        "|---|---|---|---|",
    ]
    word = {True: "HD no worse", False: "HD worse", None: "-"}
    for d in directions(finals):
        lines.append(f"| {d['problem']} | {d['pair']} | {word[d['ours']]} | {word[d['paper']]} |")
    held = [d for d in directions(finals) if d["pair"] != "Adam-HD vs Adam"]
    lines += [
        "",
        f"For SGD and SGDN (the paper's claim): HD no worse in "
        f"{sum(d['ours'] for d in held)} of {len(held)} cases here.",
        "",
    ]
    return "\n".join(lines)


def plot(runs, path_curves: str, path_sensitivity: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = dict(zip(METHODS, ("C0", "C0", "C1", "C1", "C2", "C2"), strict=True))
    styles = {m: "-" if m.endswith("-HD") else "--" for m in METHODS}
    names = _workloads(runs)
    fig, axes = plt.subplots(3, 3, figsize=(12, 9))
    for col, p in enumerate(PROBLEMS):
        for m in METHODS:
            run = next(
                r
                for r in runs
                if (r["problem"], r["method"], r["alpha0"], r["seed"]) == (p, m, ALPHA_0, 0)
            )
            steps, alpha, train, val = (
                zip(*run["curve"], strict=True) if run["curve"] else ([],) * 4
            )
            for row, ys in enumerate((alpha, train, val)):
                axes[row, col].plot(steps, ys, styles[m], color=colors[m], label=m)
        axes[0, col].set_title(f"{p} ({names[p]})", fontsize=9)
        axes[1, col].set_yscale("log")
        axes[2, col].set_yscale("log")
        axes[2, col].set_xlabel("step")
    for row, label in enumerate(("alpha_t", "training loss", "validation loss")):
        axes[row, 0].set_ylabel(label)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path_curves, dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, p in zip(axes, PROBLEMS, strict=True):
        for m in METHODS:
            pts = sorted(
                (r["alpha0"], _value(r["train_loss"]))
                for r in runs
                if (r["problem"], r["method"], r["seed"]) == (p, m, 0)
            )
            pts = [(a, y) for a, y in pts if math.isfinite(y)]
            if pts:
                ax.plot(
                    *zip(*pts, strict=True), styles[m], marker="o", ms=3, color=colors[m], label=m
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{p} ({names[p]})", fontsize=9)
        ax.set_xlabel("alpha_0")
    axes[0].set_ylabel("final training loss")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path_sensitivity, dpi=110)
    plt.close(fig)


def write(runs, results_dir: str, stem: str = "hypergradient") -> list[str]:
    md = os.path.join(results_dir, f"{stem}.md")
    curves = os.path.join(results_dir, f"{stem}_curves.png")
    sensitivity = os.path.join(results_dir, f"{stem}_sensitivity.png")
    io.write_atomic(md, markdown(runs))
    plot(runs, curves, sensitivity)
    return [md, curves, sensitivity]
