"""Hypergradient descent's report: the tables beside the paper's, and plots."""

from __future__ import annotations

import math
import os

import numpy as np

from algoperf_lite.core import io
from algoperf_lite.papers import claims
from algoperf_lite.papers.hypergradient.study import (
    ALPHA_0,
    MARGIN,
    METHODS,
    PAPER,
    PAPER_PEAK_ALPHA,
    PAPER_PROBLEM,
    PAPER_STANDINS,
    WEIGHT_DECAY,
    arrange,
    directions,
    methods_in,
    peak_alpha,
    seeds_in,
    study_claims,
)


def _fmt(x) -> str:
    return "diverged" if x is None or not math.isfinite(x) else f"{x:.4f}"


def _mean(cell, key) -> float:
    values = [r[key] for r in cell]
    if not values or any(v is None for v in values):
        return math.inf
    return float(np.mean(values))


def markdown(runs, problems=PAPER_STANDINS) -> str:
    points, grids, workloads = arrange(runs)
    methods = methods_in(runs)
    at_paper = {(w, m): points.get((w, m, ALPHA_0), []) for w in workloads for m in methods}
    lines = [
        "# Hypergradient descent (Baydin et al., 2018), in small",
        "",
        f"Workloads: {', '.join(f'`{w}`' for w in workloads)}. L2 {WEIGHT_DECAY:g}, mu = 0.9; "
        "beta = 1e-3 (SGD-HD, SGDN-HD), 1e-7 (Adam-HD; 1e-8 on the convolutional "
        "workloads). Full step budget of each workload (the paper counted epochs on "
        f"MNIST/CIFAR-10), {seeds_in(runs)} seeds per cell. Every method's alpha_0 on a "
        "half-decade grid extended until its best (lowest mean final training loss; a "
        "grid point where any seed diverges counts as diverged) is bracketed.",
        "Regenerate with `make reproduce` (from results/hypergradient.jsonl; "
        "FROM_SCRATCH=1 reruns it, resuming where it stopped).",
        "",
        f"## The paper's problems at its alpha_0 = {ALPHA_0:g}",
        "",
        "Cells: mean final training loss / mean final validation loss; the paper's numbers "
        "are from its authors' result files and are on other data, so compare "
        "directions, not values.",
        "",
        "| problem | | " + " | ".join(methods) + " |",
        "|---" * (len(methods) + 2) + "|",
    ]
    for p, w in problems.items():
        if w not in workloads:
            continue
        ours = [
            f"{_fmt(_mean(at_paper[(w, m)], 'train_loss'))} / "
            f"{_fmt(_mean(at_paper[(w, m)], 'validation_loss'))}"
            for m in methods
        ]
        paper = [
            "-" if PAPER[p][m] is None else f"{PAPER[p][m][0]:g} / {PAPER[p][m][1]:g}"
            for m in methods
        ]
        lines.append(f"| {p} | ours (`{w}`) | " + " | ".join(ours) + " |")
        lines.append(f"| | paper ({PAPER_PROBLEM[p]}) | " + " | ".join(paper) + " |")
    shown = {p: w for p, w in problems.items() if w in workloads}
    lines += [
        "",
        "Peak alpha_t (seed 0; the paper's in brackets): "
        + "; ".join(
            f"{p}: "
            + ", ".join(
                f"{m} {peak_alpha(runs, w, m):.3g} ({PAPER_PEAK_ALPHA[p].get(m, '-')})"
                for m in methods
                if "HD" in m
            )
            for p, w in shown.items()
        )
        + ".",
        "",
        "### Does the paper's direction hold here?",
        "",
        f'Our verdict on "HD no worse than its base" (margin {MARGIN:.0%}, paired over '
        "seeds, see the last section), beside the direction of the paper's numbers.",
        "",
        "| problem | comparison | here: ratio HD / base [interval] | paper |",
        "|---|---|---|---|",
    ]
    word = {True: "HD no worse", False: "HD worse", None: "-"}
    for d in directions(runs, shown):
        c = d["ours"]
        lines.append(
            f"| {d['problem']} | {d['pair']} | {c.verdict}: {c.estimate:.3f} "
            f"[{c.low:.3f}, {c.high:.3f}] | {word[d['paper']]} |"
        )
    lines += _brackets(runs, points, grids, workloads, at_paper)
    lines.append("")
    lines += claims.claims_markdown(study_claims(runs))
    return "\n".join(lines)


def _brackets(runs, points, grids, workloads, at_paper) -> list[str]:
    """The alpha_0 brackets of every method on every workload, and the study's verdict on them."""
    methods, lines = methods_in(runs), []
    lines += [
        "",
        "## alpha_0 brackets on every workload",
        "",
        "Cells: alpha_0 below < **chosen** < above, then the mean final training loss at the "
        f"paper's alpha_0 = {ALPHA_0:g} and at the chosen one.",
        "",
        "| workload | " + " | ".join(methods) + " |",
        "|---" * (len(methods) + 1) + "|",
    ]
    for w in workloads:
        cells = []
        for m in methods:
            g = grids[(w, m)]
            below, above = g.neighbours
            fmt = lambda a: "-" if a is None else f"{a:g}"  # noqa: E731
            cells.append(
                f"{fmt(below)} < **{g.best:g}** < {fmt(above)}: "
                f"{_fmt(_mean(at_paper[(w, m)], 'train_loss'))} -> "
                f"{_fmt(_mean(points[(w, m, g.best)], 'train_loss'))}"
            )
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    edges = [(w, m) for (w, m), g in grids.items() if not g.interior]
    lines += [""]
    if edges:
        lines.append(
            "**Failure of the study**: the best alpha_0 is at the edge of its grid for "
            + ", ".join(f"{m} on {w}" for w, m in edges)
            + f" (the grid stopped at {claims.MAX_RATES} values)."
        )
    else:
        lines.append(
            f"Every method's chosen alpha_0 is interior on all {len(workloads)} workloads: "
            "both neighbours on the grid end worse (or diverge)."
        )
    return lines


def plot(runs, path_curves: str, path_sensitivity: str, problems=PAPER_STANDINS) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points, grids, workloads = arrange(runs)
    methods = methods_in(runs)
    colors = dict(zip(METHODS, ("C0", "C0", "C1", "C1", "C2", "C2"), strict=True))
    styles = {m: "-" if m.endswith("-HD") else "--" for m in METHODS}
    shown = {p: w for p, w in problems.items() if w in workloads}
    fig, axes = plt.subplots(3, len(shown), figsize=(4 * len(shown), 9), squeeze=False)
    for col, (p, w) in enumerate(shown.items()):
        for m in methods:
            cell = points.get((w, m, ALPHA_0))
            curve = (cell[0]["curve"] if cell else None) or []
            if not curve:
                continue
            steps, alpha, train, val = zip(*curve, strict=True)
            for row, ys in enumerate((alpha, train, val)):
                axes[row, col].plot(steps, ys, styles[m], color=colors[m], label=m)
        axes[0, col].set_title(f"{p} ({w}), alpha_0 = {ALPHA_0:g}", fontsize=9)
        axes[1, col].set_yscale("log")
        axes[2, col].set_yscale("log")
        axes[2, col].set_xlabel("step")
    for row, label in enumerate(("alpha_t", "training loss", "validation loss")):
        axes[row, 0].set_ylabel(label)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path_curves, dpi=110)
    plt.close(fig)

    cols = min(len(workloads), 3)
    rows = math.ceil(len(workloads) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, w in zip(axes.flat, workloads, strict=False):
        for m in methods:
            g = grids[(w, m)]
            pts = [(a, y) for a, y in zip(g.rates, g.scores, strict=True) if math.isfinite(y)]
            if pts:
                ax.plot(
                    *zip(*pts, strict=True), styles[m], marker="o", ms=3, color=colors[m], label=m
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(w, fontsize=9)
        ax.set_xlabel("alpha_0")
        ax.set_ylabel(f"mean final training loss ({seeds_in(runs)} seeds)")
    for ax in axes.flat[len(workloads) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path_sensitivity, dpi=110)
    plt.close(fig)


def write(
    runs, results_dir: str, stem: str = "hypergradient", problems=PAPER_STANDINS
) -> list[str]:
    md = os.path.join(results_dir, f"{stem}.md")
    curves = os.path.join(results_dir, f"{stem}_curves.png")
    sensitivity = os.path.join(results_dir, f"{stem}_sensitivity.png")
    io.write_atomic(md, markdown(runs, problems))
    plot(runs, curves, sensitivity, problems)
    return [md, curves, sensitivity]
