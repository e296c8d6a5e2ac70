"""Hypergradient descent (Baydin et al., 2018) in small: settings, runs, claims.

Methods, with the paper's settings: SGD, SGD-HD and SGDN, SGDN-HD (beta =
1e-3, mu = 0.9), Adam, Adam-HD (beta = 1e-7; 1e-8 on the convolutional
workloads, as the paper used for VGG: our reading); L2 weight decay 1e-4 added
to the gradient. A base method is its HD variant with beta = 0, so both share
one compiled step. Each run takes the workload's full step budget (not the
paper's epochs) on ``SEEDS``. Every method's alpha_0 is searched on a
half-decade grid from 1e-4 to 1, extended until the best alpha_0
(lowest mean final training loss) is bracketed by worse ones
(``claims.bracket``), so HD and its base are compared both at the paper's
alpha_0 and each at its own best. The paper's table is set beside our
stand-ins for its three problems (``PAPER_STANDINS``; ``TFDS_PROBLEMS`` when
their data are prepared). Every run is appended to
``results/hypergradient.jsonl`` as it finishes (a killed study resumes).
"""

from __future__ import annotations

import math

from tqdm import tqdm

from algoperf_lite.loading import load_submission
from algoperf_lite.papers import claims
from algoperf_lite.train import planning

# The paper's problems -> our offline stand-ins: logistic regression (for MNIST
# logreg), an MLP (for the 784-1000-1000-10 MNIST MLP), a CNN with batch norm
# (for VGG-16-BN on CIFAR-10).
PAPER_STANDINS = {"logreg": "digits_logreg", "mlp": "mnist1d_mlp", "cnn": "digits_cnn"}
# The paper's own problems, run when their TFDS data are prepared.
TFDS_PROBLEMS = {"logreg": "mnist_logreg", "mlp": "mnist_mlp", "cnn": "cifar10_vgg16"}
CONVOLUTIONAL = {"digits_cnn", "mnist1d_cnn", "cifar10_vgg16"}
# method -> (submission, fixed hyperparameters); beta is filled in per workload.
METHODS = {
    "SGD": ("sgd_hd", {"momentum": 0.0}),
    "SGD-HD": ("sgd_hd", {"momentum": 0.0}),
    "SGDN": ("sgd_hd", {"momentum": 0.9}),
    "SGDN-HD": ("sgd_hd", {"momentum": 0.9}),
    "Adam": ("adam_hd", {}),
    "Adam-HD": ("adam_hd", {}),
}
PAIRS = (("SGD-HD", "SGD"), ("SGDN-HD", "SGDN"), ("Adam-HD", "Adam"))
ALPHA_0 = 1e-3  # the paper's
# Grid indices of the first alpha_0 tried: 1e-4 to 1, every half decade. Wide on
# purpose: an HD method's loss is flat over small alpha_0 (alpha adapts), and a
# grid started there would bracket a plateau's noise instead of the best alpha_0.
START = tuple(range(-8, 1))
WEIGHT_DECAY = 1e-4
SEEDS = (0, 1, 2, 3, 4)
LANES = 8
# HD "no worse" than its base allows this relative margin (our threshold).
MARGIN = 0.01
BUDGET = "full step budget"
DATA_FILE = "hypergradient.jsonl"
TFDS_DATA_FILE = "hypergradient_tfds.jsonl"

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


def methods_in(runs) -> list[str]:
    """The methods that ran, in ``METHODS`` order."""
    ran = {r["method"] for r in runs}
    return [m for m in METHODS if m in ran]


def seeds_in(runs) -> int:
    return len({r["seed"] for r in runs})


def _pairs(runs) -> list[tuple[str, str]]:
    ran = methods_in(runs)
    return [(hd, base) for hd, base in PAIRS if hd in ran and base in ran]


def beta(method: str, workload: str) -> float:
    if not method.endswith("-HD"):
        return 0.0
    if method == "Adam-HD":
        return 1e-8 if workload in CONVOLUTIONAL else 1e-7
    return 1e-3


def hparams(method: str, workload: str, alpha0: float) -> dict:
    return {
        **METHODS[method][1],
        "learning_rate": alpha0,
        "hypergradient_lr": beta(method, workload),
        "weight_decay": WEIGHT_DECAY,
    }


def _summary(result) -> dict:
    finite = result.status != "diverged"
    last = result.rows[-1] if result.rows and finite else {}
    curve = [  # seed 0's, for the figures
        [r["global_step"], r["optimizer/learning_rate"], r["train/loss"], r["validation/loss"]]
        for r in result.rows
    ]
    return {
        "status": result.status,
        "train_loss": last.get("train/loss"),
        "validation_loss": last.get("validation/loss"),
        "curve": curve if result.seed == 0 else None,
    }


def tfds_ready() -> bool:
    """Whether the data of every TFDS problem are prepared."""
    from algoperf_lite.core.errors import UserError
    from workloads.tfds_suite import DATASETS, read_split

    try:
        for name in TFDS_PROBLEMS.values():
            read_split(DATASETS[name], "train", limit=1)
    except UserError:
        return False
    return True


def run_all(workloads, path: str, config, progress: bool = True) -> list[dict]:
    """Run (or resume) the study on ``workloads`` with ``config`` (the package's
    ``get_config()``: its methods, seeds and lanes); returns every run."""
    seeds, lanes = tuple(config.seeds), config.lanes
    book = claims.journal(path, workloads)
    bar = tqdm(
        total=len(workloads) * len(config.methods) * (len(START) + 2) * len(seeds),
        desc="hypergradient",
        unit="run",
        disable=not progress,
    )

    def score(w, method, k):
        sub = load_submission(METHODS[method][0])
        alpha0 = claims.rate(k)
        record = {"workload": w.name, "method": method, "rate": alpha0, "budget": BUDGET}
        width = planning.lanes_for(w, sub, lanes)
        runs = claims.run_cell(
            book, w, sub, record, hparams(method, w.name, alpha0), seeds, width, _summary
        )
        bar.update(len(runs))
        return claims.mean_loss([r["train_loss"] for r in runs])

    for w in workloads:
        for method in config.methods:
            claims.bracket(lambda k, w=w, m=method: score(w, m, k), START)
    bar.close()
    return load(path)


def load(path: str) -> list[dict]:
    return claims.load_runs(path)


def arrange(runs) -> tuple[dict, dict, list]:
    """({(workload, method, alpha0): runs in seed order}, {(workload, method):
    its grid}, the workloads)."""
    points: dict = {}
    for r in sorted(runs, key=lambda r: r["seed"]):
        points.setdefault((r["workload"], r["method"], r["rate"]), []).append(r)
    workloads = list(dict.fromkeys(r["workload"] for r in runs))
    grids = {}
    for w in workloads:
        for m in methods_in(runs):
            rates = sorted(k[2] for k in points if k[:2] == (w, m))
            grids[(w, m)] = claims.Bracket(
                rates,
                [claims.mean_loss([r["train_loss"] for r in points[(w, m, a)]]) for a in rates],
            )
    return points, grids, workloads


def _losses(cell) -> list[float]:
    return [claims.finite_loss(r["train_loss"]) for r in cell]


def study_claims(runs) -> list[claims.Claim]:
    points, grids, workloads = arrange(runs)
    out = []
    for hd, base in _pairs(runs):
        out.append(
            claims.paired_claim(
                f"{hd} no worse than {base} at the paper's alpha_0 = {ALPHA_0:g} "
                f"(margin {MARGIN:.0%})",
                {w: _losses(points.get((w, hd, ALPHA_0), [])) for w in workloads},
                {w: _losses(points.get((w, base, ALPHA_0), [])) for w in workloads},
                margin=MARGIN,
            )
        )
    for hd, base in _pairs(runs):
        out.append(
            claims.paired_claim(
                f"{hd} no worse than {base}, each at its bracketed best alpha_0 "
                f"(margin {MARGIN:.0%})",
                {w: _losses(points[(w, hd, grids[(w, hd)].best)]) for w in workloads},
                {w: _losses(points[(w, base, grids[(w, base)].best)]) for w in workloads},
                margin=MARGIN,
            )
        )
    for hd, base in _pairs(runs):
        shared = {
            w: sorted(set(grids[(w, hd)].rates) & set(grids[(w, base)].rates)) for w in workloads
        }
        out.append(
            claims.paired_claim(
                f"{hd} ends below {base} over every alpha_0 both tried (less sensitive to alpha_0)",
                {w: [x for a in shared[w] for x in _losses(points[(w, hd, a)])] for w in workloads},
                {
                    w: [x for a in shared[w] for x in _losses(points[(w, base, a)])]
                    for w in workloads
                },
                unit="(alpha_0, seed) pairs",
            )
        )
    return out


def directions(runs, problems=PAPER_STANDINS) -> list[dict]:
    """Per paper problem and pair, at alpha_0 = 1e-3: our paired verdict on "HD no
    worse than its base", beside the paper's direction."""
    points, _, _ = arrange(runs)
    out = []
    for p, w in problems.items():
        for hd, base in _pairs(runs):
            claim = claims.paired_claim(
                f"{hd} vs {base}",
                {w: _losses(points.get((w, hd, ALPHA_0), []))},
                {w: _losses(points.get((w, base, ALPHA_0), []))},
                margin=MARGIN,
            )
            paper_base, paper_hd = PAPER[p][base], PAPER[p][hd]
            out.append(
                {
                    "problem": p,
                    "pair": f"{hd} vs {base}",
                    "ours": claim,
                    "paper": None if paper_hd is None else paper_hd[0] <= paper_base[0],
                }
            )
    return out


def peak_alpha(runs, workload, method) -> float:
    points, _, _ = arrange(runs)
    curve = points[(workload, method, ALPHA_0)][0]["curve"] or []
    return max((a for _, a, _, _ in curve), default=math.nan)
