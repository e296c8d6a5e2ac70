"""Hyperparameter importance of CNNs (Wang, Nabney & Golbabaee, 2024), in small.

``NUM_MODELS`` quasi-random points of ``workloads.cnn_family.SPACE`` (conv
layers, filters, kernel size, dense units, dropout, learning rate, optimizer,
epochs, batch size) are trained on each of three offline datasets; the
outcome is the final validation accuracy. Importances come from N-RReliefF
(ours) and fANOVA (optuna's), per dataset and on average, and are set beside
the paper's top five.

Our interpretation where the paper leaves room: the optimizers run at a
constant learning rate with their optax defaults (SGD without momentum, Adam,
RMSprop, our NAdamW without weight decay); an epoch is one pass over the
(cut) training set in shuffled batches, the last partial batch dropped.
"""

from __future__ import annotations

import functools
import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pandas as pd
from tqdm import tqdm

from algoperf_lite.analysis import importance
from algoperf_lite.core import io
from algoperf_lite.papers import claims
from algoperf_lite.tuning import search_space, sweeps
from workloads import cnn_family

NUM_MODELS = 200
SEED = 0
SWEEP_FILE = "cnn_importance.jsonl"
TABLE_FILE = "cnn_importance.csv.gz"  # the committed, compact form of the sweep
PAPER_TOP5 = ("num_conv_layers", "learning_rate", "dropout_rate", "optimizer", "epochs")
# The paper's N-RReliefF values for its top three (the seed document's numbers).
PAPER_VALUES = {"num_conv_layers": 0.385, "learning_rate": 0.228, "dropout_rate": 0.131}
LOG_COLUMNS = ("learning_rate",)


def _optimizer(name: str, learning_rate):
    from algoperf_lite.optim.nadam import nadamw

    if name == "sgd":
        return optax.sgd(learning_rate)
    if name == "adam":
        return optax.adam(learning_rate)
    if name == "rmsprop":
        return optax.rmsprop(learning_rate)
    if name == "nadamw":
        return nadamw(learning_rate, b1=0.9, b2=0.999, weight_decay=0.0)
    raise ValueError(f"unknown optimizer {name!r}")


def _loss(model, params, x, y, train, dropout=0.0, rng=None):
    rngs = {"dropout": rng} if train else {}
    logits = model.apply({"params": params}, x, train=train, dropout_rate=dropout, rngs=rngs)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, jnp.mean(jnp.argmax(logits, -1) == y)


# Compiling, not stepping, dominates for models this small, so the compiled
# pieces are shared where they can be: init and evaluation per architecture,
# the step per (architecture, optimizer, batch size). Learning and dropout
# rates are traced.
@functools.cache
def _init(model):
    return jax.jit(lambda key, x: model.init(key, x, train=False)["params"])


@functools.cache
def _evaluate(model):
    return jax.jit(lambda params, x, y: _loss(model, params, x, y, False))


@functools.cache
def _step(model, optimizer: str):
    def step(params, opt_state, lr, dropout, xs, ys, idx, rng):
        grads_of = jax.value_and_grad(_loss, argnums=1, has_aux=True)
        (loss, _), grads = grads_of(model, params, xs[idx], ys[idx], True, dropout, rng)
        updates, opt_state = _optimizer(optimizer, lr).update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(step)


def train(point: dict, dataset: str, seed: int = SEED) -> dict:
    """Train one model of the family; final validation accuracy and losses."""
    data = cnn_family.load(dataset)
    xs, ys = map(jnp.asarray, data["train"])
    xv, yv = map(jnp.asarray, data["validation"])
    batch = int(point["batch_size"])
    model = cnn_family.make_model(point, dataset)
    step = _step(model, point["optimizer"])
    lr, dropout = jnp.float32(point["learning_rate"]), jnp.float32(point["dropout_rate"])
    tic = time.perf_counter()
    # rbg keys: threefry's compile time dominated these small programs.
    key = jax.random.key(seed, impl="rbg")
    params = _init(model)(key, xs[:batch])
    opt_state = _optimizer(point["optimizer"], lr).init(params)
    rng = np.random.default_rng(seed)
    per_epoch = len(xs) // batch
    losses = []
    for _epoch in range(int(point["epochs"])):
        order = rng.permutation(len(xs))[: per_epoch * batch].reshape(per_epoch, batch)
        for idx in order:
            step_key = jax.random.fold_in(key, len(losses) + 1)
            params, opt_state, loss = step(params, opt_state, lr, dropout, xs, ys, idx, step_key)
            losses.append(loss)
    val_loss, accuracy = _evaluate(model)(params, xv, yv)
    return {
        "global_step": len(losses),
        "score": time.perf_counter() - tic,
        "train/loss": float(jnp.mean(jnp.stack(losses[-per_epoch:]))),  # over the last epoch
        "validation/loss": float(val_loss),
        "value": float(accuracy),
    }


def points(num_models: int = NUM_MODELS) -> list[dict]:
    return search_space.sample(cnn_family.SPACE, num_models, seed=SEED)


def run_all(
    path: str,
    datasets=cnn_family.DATASETS,
    num_models: int = NUM_MODELS,
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
):
    """Train every point on every dataset, appending to ``path`` (resumable).

    ``shard=(i, n)`` takes every n-th model from the i-th, so that n processes
    can share one file (each record is one appended line)."""
    done = {(r["workload"], r["point"]) for r in sweeps.read_records(path)}
    # Point-major, so that a sweep cut short still covers every dataset evenly.
    jobs = [(d, i, p) for i, p in enumerate(points(num_models)) for d in datasets]
    jobs = [j for j in jobs if j[:2] not in done][shard[0] :: shard[1]]
    with sweeps.append(path) as f:
        for dataset, i, point in tqdm(jobs, desc="cnn models", unit="model", disable=not progress):
            row = train(point, dataset)
            status = "finished" if np.isfinite(row["train/loss"]) else "diverged"
            record = {"workload": dataset, "point": i, "seed": SEED, "status": status}
            f.write(json.dumps({**record, "hparams": point, "curve": [row]}) + "\n")
            f.flush()
    records = sweeps.read_records(path)
    sweeps.compact(records, os.path.join(os.path.dirname(path), TABLE_FILE))
    return records


# ---------------------------------------------------------------------------
# Analysis: from the stored sweep, in seconds.
# ---------------------------------------------------------------------------


def analyze(finals: pd.DataFrame, fanova_seed: int = 0) -> dict:
    """Importances per dataset (N-RReliefF and fANOVA) and their agreement."""
    names = list(cnn_family.SPACE)
    config = importance.ReliefConfig(log_columns=LOG_COLUMNS)
    relief, fanova, agree = {}, {}, {}
    for dataset, group in finals.groupby("workload", sort=False):
        frame = group[[f"hp/{n}" for n in names]].set_axis(names, axis=1)
        frame = frame.astype({n: str for n in cnn_family.CATEGORICAL})
        relief[dataset] = importance.nrrelieff(frame, group["value"], config)
        fanova[dataset] = importance.fanova(frame, group["value"], LOG_COLUMNS, seed=fanova_seed)
        agree[dataset] = importance.agreement(relief[dataset], fanova[dataset])
    relief = pd.DataFrame(relief).reindex(names)
    fanova = pd.DataFrame(fanova).reindex(names)
    relief["mean"], fanova["mean"] = relief.mean(axis=1), fanova.mean(axis=1)
    agree["mean"] = importance.agreement(relief["mean"], fanova["mean"])
    counts = finals.groupby("workload").size().to_dict()
    out = {"relief": relief, "fanova": fanova, "agreement": agree, "models": counts}
    return {**out, "claims": study_claims(finals, relief["mean"])}


# The claims' intervals: N-RReliefF rerun on this many subsamples of the models,
# each SUBSAMPLE of every dataset drawn without replacement (a bootstrap's
# duplicated models would be each other's nearest neighbours and bias the weights).
DRAWS = 100
SUBSAMPLE = 0.8
# The paper's ranks of its top three, and the two it found to matter little.
PAPER_RANKS = {"num_conv_layers": 1, "learning_rate": 2, "dropout_rate": 3}
PAPER_MINOR = ("batch_size", "dense_units")


def study_claims(finals: pd.DataFrame, mean: pd.Series) -> list:
    """The paper's ranking as claims on the mean N-RReliefF shares, with intervals
    from rerunning N-RReliefF on subsamples of the models (within each dataset)."""
    names = list(cnn_family.SPACE)
    config = importance.ReliefConfig(log_columns=LOG_COLUMNS)
    rng = np.random.default_rng(0)
    draws = []
    groups = [g for _, g in finals.groupby("workload", sort=False)]
    for _ in range(DRAWS):
        shares = []
        for group in groups:
            pick = group.iloc[rng.permutation(len(group))[: int(SUBSAMPLE * len(group))]]
            frame = pick[[f"hp/{n}" for n in names]].set_axis(names, axis=1)
            frame = frame.astype({n: str for n in cnn_family.CATEGORICAL})
            shares.append(importance.nrrelieff(frame, pick["value"], config))
        draws.append(pd.DataFrame(shares).mean().reindex(names))
    draws = pd.DataFrame(draws)

    def margin(row, name, rank):  # share of name minus the rank-th largest other share
        return row[name] - row.drop(name).sort_values(ascending=False).iloc[rank - 1]

    sample = f"{SUBSAMPLE:.0%} of each dataset's models"
    out = []
    for name, rank in PAPER_RANKS.items():
        out.append(
            claims.interval_claim(
                f"{name} ranks {'first' if rank == 1 else f'in the top {rank}'} (share minus "
                f"the {['', 'largest', '2nd largest', '3rd largest'][rank]} other share)",
                margin(mean, name, rank),
                draws.apply(lambda row, n=name, r=rank: margin(row, n, r), axis=1),
                0.0,
                True,
                sample,
            )
        )
    uniform = 1 / len(names)
    for name in PAPER_MINOR:
        out.append(
            claims.interval_claim(
                f"{name} matters little (share below the uniform 1/{len(names)})",
                mean[name],
                draws[name],
                uniform,
                False,
                sample,
            )
        )
    return out


CLAIMS_TEST = (
    "The paper's ranking as claims on the mean N-RReliefF shares over the datasets, "
    f"with 95% intervals from {DRAWS} reruns of N-RReliefF on {SUBSAMPLE:.0%} of the "
    "models of each dataset, drawn without replacement (a subsampling interval: a "
    "bootstrap's duplicated models would be each other's nearest neighbours). A "
    "claim holds when the interval lies on the paper's side of the bound, fails "
    "when it lies on the other, and is undecided otherwise (our test). fANOVA is "
    "not resampled (its cost)."
)


def _table(frame: pd.DataFrame) -> str:
    order = frame.sort_values("mean", ascending=False)
    head = "| hyperparameter | " + " | ".join(order.columns) + " |"
    lines = [head, "|" + "---|" * (len(order.columns) + 1)]
    for name, row in order.iterrows():
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    return "\n".join(lines)


def markdown(result: dict) -> str:
    relief, fanova = result["relief"], result["fanova"]
    top5 = list(relief["mean"].sort_values(ascending=False).index[:5])
    shared = [n for n in top5 if n in PAPER_TOP5]
    models = ", ".join(f"{d}: {n}" for d, n in result["models"].items())
    lines = [
        "# Hyperparameter importance of small CNNs (Wang et al., in small)",
        "",
        f"Models trained: {models}; outcome: final validation accuracy. "
        "Regenerate with `make reproduce` (from the committed sweep) or "
        "`make reproduce FROM_SCRATCH=1`.",
        "Our interpretation: constant learning rates, optax defaults per optimizer; "
        "N-RReliefF with k = 10 rank-weighted neighbours over every model, learning "
        "rate compared on a log scale, negative weights clipped to 0, shares summing to 1.",
        "",
        "## N-RReliefF importance",
        "",
        _table(relief),
        "",
        "## fANOVA importance (optuna)",
        "",
        _table(fanova),
        "",
        "## Agreement of N-RReliefF and fANOVA",
        "",
        "| dataset | Kendall tau | Spearman | same top hyperparameter |",
        "|---|---|---|---|",
    ]
    for dataset, a in result["agreement"].items():
        top = "yes" if a["same_top"] else "no"
        lines.append(f"| {dataset} | {a['kendall_tau']:.2f} | {a['spearman']:.2f} | {top} |")
    paper = ", ".join(
        f"{n} ({PAPER_VALUES[n]:.3f})" if n in PAPER_VALUES else n for n in PAPER_TOP5
    )
    lines += [
        "",
        "## Against the paper",
        "",
        f"- Paper's top five (N-RReliefF): {paper}.",
        f"- Ours (mean N-RReliefF): {', '.join(top5)}.",
        f"- In both top fives: {', '.join(shared) or 'none'} ({len(shared)} of 5).",
        f"- Most important here: {top5[0]} ({relief['mean'][top5[0]]:.3f}); "
        f"the paper's: num_conv_layers ({PAPER_VALUES['num_conv_layers']}).",
        "",
        *claims.claims_markdown(result["claims"], CLAIMS_TEST),
    ]
    return "\n".join(lines)


def plot(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = result["relief"]["mean"].sort_values(ascending=True).index
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ypos = np.arange(len(order))
    ax.barh(ypos + 0.2, result["relief"]["mean"][order], 0.4, label="N-RReliefF")
    ax.barh(ypos - 0.2, result["fanova"]["mean"][order], 0.4, label="fANOVA")
    ax.set_yticks(ypos, order)
    ax.set_xlabel("importance (mean over datasets, shares sum to 1)")
    ax.set_title("CNN hyperparameter importance")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(results_dir: str) -> list[str]:
    finals = sweeps.finals(sweeps.load(os.path.join(results_dir, "sweeps", TABLE_FILE)))
    result = analyze(finals)
    out_md = os.path.join(results_dir, "importance.md")
    out_png = os.path.join(results_dir, "importance.png")
    io.write_atomic(out_md, markdown(result))
    plot(result, out_png)
    return [out_md, out_png]


# The papers' protocol (see algoperf_lite.papers).
def get_config() -> ml_collections.ConfigDict:
    """Hyperparameter importance of CNNs (Wang, Nabney & Golbabaee, 2024):
    N-RReliefF and fANOVA over a family of small CNNs on three offline datasets.

    Tables and plot from the committed sweep (seconds):
        python scripts/reproduce.py --paper importance
    Rerun (resume) the sweep first (about 50 min on 2 CPU cores):
        python scripts/reproduce.py --rerun importance --importance.num_models=50
    """
    config = ml_collections.ConfigDict()
    config.sweep_file = os.path.join("sweeps", SWEEP_FILE)
    config.num_models = NUM_MODELS
    return config


def run(config: ml_collections.ConfigDict, results: str) -> None:
    """The CNN sweep, resumable."""
    run_all(os.path.join(results, config.sweep_file), num_models=config.num_models)


def report(config: ml_collections.ConfigDict, results: str) -> list[str]:
    return write(results)
