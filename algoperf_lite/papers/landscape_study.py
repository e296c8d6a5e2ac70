"""Hyperparameter loss landscapes (Huang & Li, 2023), in small.

A full grid over NAdamW's learning rate (8 values), 1 - beta1 (4) and weight
decay (4), other hyperparameters fixed, is trained on three offline
workloads, each point to its full step budget. Every run gives four
landscapes: training and validation loss, each at two fidelities. Our
interpretation of fidelity: "low" is the same run read at a quarter of its
step budget (the learning-rate schedule, set by the full budget, has not
annealed yet); "full" is its end.
"""

from __future__ import annotations

import itertools
import os

import ml_collections
import numpy as np
import pandas as pd

from algoperf_lite.analysis import landscapes as L
from algoperf_lite.core import io
from algoperf_lite.papers import claims
from algoperf_lite.tuning import sweeps

WORKLOADS = ("digits_logreg", "teacher_mlp_regression", "mnist1d_mlp")
GRID = {
    "learning_rate": [1e-4, 2.7e-4, 7.2e-4, 1.9e-3, 5.2e-3, 1.4e-2, 3.7e-2, 1e-1],
    "one_minus_beta1": [0.01, 0.03, 0.1, 0.3],
    "weight_decay": [1e-4, 1e-3, 1e-2, 1e-1],
}
FIXED = {"beta2": 0.999, "warmup_factor": 0.05, "label_smoothing": 0.0, "dropout_rate": 0.0}
LOW_FIDELITY = 0.25
SWEEP_FILE = "landscapes.jsonl"
TABLE_FILE = "landscapes.csv.gz"  # the committed, compact form of the sweep
SPLITS = ("validation", "train")
FIDELITIES = ("full", "low")


def grid_points() -> list[dict]:
    return [
        {**dict(zip(GRID, v, strict=False)), **FIXED} for v in itertools.product(*GRID.values())
    ]


def run_all(path: str, workloads: dict, progress: bool = True, names=WORKLOADS) -> list[dict]:
    from algoperf_lite.loading import load_submission

    chosen = [workloads[n] for n in names]
    records = sweeps.run_sweep(
        chosen, load_submission("nadamw"), grid_points(), path, progress=progress
    )
    sweeps.compact(records, os.path.join(os.path.dirname(path), TABLE_FILE))
    return records


def loss_tables(frame: pd.DataFrame) -> dict:
    """{(workload, split, fidelity): loss per grid point}, points in grid order."""
    tables = {}
    for workload, group in frame.groupby("workload", sort=False):
        last_step = group["global_step"].max()
        low = group[group["global_step"] <= LOW_FIDELITY * last_step]
        for fidelity, rows in (("full", group), ("low", low)):
            ends = rows.sort_values("global_step").groupby("point").tail(1).set_index("point")
            for split in SPLITS:
                tables[(workload, split, fidelity)] = ends[f"{split}/loss"].sort_index()
    return tables


def _landscape(losses: pd.Series, grid: pd.DataFrame) -> L.Landscape:
    return L.Landscape.from_frame(grid.loc[losses.index], losses.to_numpy())


def analyze(frame: pd.DataFrame) -> dict:
    grid = pd.DataFrame(grid_points())[list(GRID)]
    tables = loss_tables(frame)
    metrics = {key: L.metrics(_landscape(t, grid)) for key, t in tables.items()}
    pairs = []

    def compare(kind, a, b):
        common = tables[a].index.intersection(tables[b].index)
        sim = L.similarity(tables[a][common], tables[b][common])
        pairs.append({"kind": kind, "a": "/".join(a), "b": "/".join(b), **sim})

    workloads = list(dict.fromkeys(k[0] for k in tables))
    for w in workloads:
        for fidelity in FIDELITIES:
            compare("train vs validation", (w, "train", fidelity), (w, "validation", fidelity))
        for split in SPLITS:
            compare("low vs full fidelity", (w, split, "low"), (w, split, "full"))
    for a, b in itertools.combinations(workloads, 2):
        for split, fidelity in itertools.product(SPLITS, FIDELITIES):
            compare("workload vs workload", (a, split, fidelity), (b, split, fidelity))
    return {"metrics": metrics, "pairs": pd.DataFrame(pairs), "tables": tables, "grid": grid}


COLUMNS = {
    "fdc": "FDC",
    "local_optima": "local optima",
    "global_basin_share": "global basin",
    "neutrality": "neutrality",
    "ndc": "NDC",
    "autocorrelation": "autocorr. (lag 1)",
    "assortativity": "assortativity",
}


def study_claims(result: dict) -> list[claims.Claim]:
    """The paper's findings as claims on medians, each with the interval from
    resampling the validation landscapes (or the pairs of landscapes compared)."""
    val = [m for (w, s, f), m in result["metrics"].items() if s == "validation"]
    pairs = result["pairs"]
    out = []

    def on_landscapes(text, key, bound, above):
        values = [m[key] for m in val if np.isfinite(m[key])]
        draws = claims.resampled(values, np.median)
        sample = f"{len(values)} validation landscapes"
        out.append(claims.interval_claim(text, np.median(values), draws, bound, above, sample))

    def on_pairs(text, kind, bound):
        values = pairs[pairs["kind"] == kind]["spearman"].to_numpy()
        draws = claims.resampled(values, np.median)
        sample = f"{len(values)} pairs ({kind})"
        out.append(claims.interval_claim(text, np.median(values), draws, bound, True, sample))

    on_landscapes("Smooth: median lag-1 autocorrelation", "autocorrelation", 0.5, True)
    on_landscapes(
        f"Highly neutral: median neutrality (epsilon = {L.NEUTRAL_EPSILON})",
        "neutrality",
        0.5,
        True,
    )
    on_landscapes(
        "Nearly unimodal: median share of points climbing to the global optimum",
        "global_basin_share",
        0.5,
        True,
    )
    on_landscapes("Flatter near the optimum: median NDC", "ndc", 0.0, False)
    on_pairs("Low vs full fidelity: median Spearman", "low vs full fidelity", 0.85)
    cross_top = float(pairs[pairs["kind"] == "workload vs workload"]["top_jaccard"].median())
    on_pairs(
        f"Across workloads: median Spearman (top-10% overlap {cross_top:.2f}; the paper's ~0.4)",
        "workload vs workload",
        0.65,
    )
    on_pairs("Train vs validation: median Spearman", "train vs validation", 0.7)
    return out


CLAIMS_TEST = (
    "Each finding as a claim on a median, with its 95% interval from 1000 resamplings "
    "of the landscapes (or of the pairs compared; pairs that share a workload are not "
    "independent, so those intervals are optimistic). A claim holds when the interval "
    "lies on the paper's side of its bound, fails when it lies on the other side, and "
    "is undecided otherwise (our test). One seed per grid point: seed noise is not in "
    "these intervals."
)


def markdown(result: dict) -> str:
    grid = ", ".join(f"{k} ({len(v)} values, {v[0]:g} to {v[-1]:g})" for k, v in GRID.items())
    fixed = ", ".join(f"{k} = {v:g}" for k, v in FIXED.items())
    lines = [
        "# Hyperparameter loss landscapes (Huang & Li, in small)",
        "",
        f"NAdamW on a full grid: {grid}; fixed {fixed}. One seed per point. "
        f"Fidelity (our interpretation): 'low' reads each run at {LOW_FIDELITY:.0%} of its step "
        "budget, 'full' at its end. Neighbours differ by one grid step in one hyperparameter; "
        f"neutrality counts neighbour pairs within {L.NEUTRAL_EPSILON} in loss. Diverged runs take "
        "the landscape's worst finite loss.",
        "",
        "## Landscape metrics",
        "",
        "| workload | loss | fidelity | " + " | ".join(COLUMNS.values()) + " |",
        "|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for (w, split, fidelity), m in result["metrics"].items():
        cells = [f"{m[k]}" if k == "local_optima" else f"{m[k]:.2f}" for k in COLUMNS]
        lines.append(f"| {w} | {split} | {fidelity} | " + " | ".join(cells) + " |")
    pairs = result["pairs"]
    summary = pairs.groupby("kind", sort=False)[["spearman", "top_jaccard", "shake_up"]].median()
    lines += [
        "",
        "## Similarity of landscapes (medians; distributions in landscapes_similarity.png)",
        "",
        "| comparison | pairs | Spearman | top-10% Jaccard | shake-up |",
        "|---|---|---|---|---|",
    ]
    for kind, row in summary.iterrows():
        count = int((pairs["kind"] == kind).sum())
        lines.append(
            f"| {kind} | {count} | {row['spearman']:.2f} | {row['top_jaccard']:.2f} "
            f"| {row['shake_up']:.3f} |"
        )
    lines += ["", *claims.claims_markdown(study_claims(result), CLAIMS_TEST)]
    return "\n".join(lines)


def plot(result: dict, path_heatmaps: str, path_similarity: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = result["grid"]
    workloads = list(dict.fromkeys(k[0] for k in result["tables"]))
    fig, axes = plt.subplots(1, len(workloads), figsize=(4.2 * len(workloads), 3.6))
    for ax, w in zip(np.atleast_1d(axes), workloads, strict=False):
        loss = result["tables"][(w, "validation", "full")]
        frame = grid.loc[loss.index].assign(loss=loss.to_numpy())
        frame["loss"] = frame["loss"].where(np.isfinite(frame["loss"]))
        best = frame.pivot_table("loss", "weight_decay", "learning_rate", aggfunc="min")
        cap = np.nanpercentile(best.to_numpy(), 90)
        image = ax.imshow(best.clip(upper=cap), origin="lower", aspect="auto", cmap="viridis_r")
        ax.set_xticks(range(len(best.columns)), [f"{v:.0e}" for v in best.columns], rotation=60)
        ax.set_yticks(range(len(best.index)), [f"{v:.0e}" for v in best.index])
        ax.set_xlabel("learning rate")
        ax.set_ylabel("weight decay")
        ax.set_title(f"{w}\nvalidation loss (best 1-beta1)", fontsize=9)
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path_heatmaps, dpi=110)
    plt.close(fig)

    pairs = result["pairs"]
    kinds = list(dict.fromkeys(pairs["kind"]))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, col, title in zip(
        axes,
        ("spearman", "top_jaccard", "shake_up"),
        ("Spearman", "top-10% Jaccard", "shake-up"),
        strict=False,
    ):
        ax.boxplot([pairs[pairs["kind"] == k][col] for k in kinds])
        ax.set_xticks(
            range(1, len(kinds) + 1), [k.replace(" vs ", "\nvs ") for k in kinds], fontsize=8
        )
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path_similarity, dpi=110)
    plt.close(fig)


def write(results_dir: str) -> list[str]:
    frame = sweeps.load(os.path.join(results_dir, "sweeps", TABLE_FILE))
    result = analyze(frame)
    paths = [
        os.path.join(results_dir, f)
        for f in ("landscapes.md", "landscapes_heatmaps.png", "landscapes_similarity.png")
    ]
    io.write_atomic(paths[0], markdown(result))
    plot(result, paths[1], paths[2])
    return paths


# The papers' protocol (see algoperf_lite.papers).
def get_config() -> ml_collections.ConfigDict:
    """Hyperparameter loss landscapes (Huang & Li, 2023): a full grid over
    NAdamW's learning rate, 1 - beta1 and weight decay on three workloads.

    Tables and plots from the committed grid sweep (seconds):
        python scripts/reproduce.py --paper landscapes
    Rerun (resume) the grid sweep first (about 15 min on 2 CPU cores):
        python scripts/reproduce.py --rerun landscapes
    """
    config = ml_collections.ConfigDict()
    config.sweep_file = os.path.join("sweeps", SWEEP_FILE)
    config.workloads = WORKLOADS
    return config


def run(config: ml_collections.ConfigDict, results: str) -> None:
    """The grid sweep, resumable."""
    from workloads import WORKLOADS as REGISTRY

    chosen = {name: REGISTRY[name] for name in config.workloads}
    run_all(os.path.join(results, config.sweep_file), chosen, names=tuple(config.workloads))


def report(config: ml_collections.ConfigDict, results: str) -> list[str]:
    return write(results)
