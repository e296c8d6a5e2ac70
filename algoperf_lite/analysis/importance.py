"""Hyperparameter importance: N-RReliefF (ours) and fANOVA (optuna's).

RReliefF (Robnik-Sikonja & Kononenko) rewards a hyperparameter whose value
differs between near neighbours exactly when their outcomes differ. For ``m``
sampled rows R and their ``k`` nearest neighbours I_j with weights d_j:

    N_dC      += diff(tau) d
    N_dA[A]   += diff(A) d
    N_dCdA[A] += diff(tau) diff(A) d
    W[A] = N_dCdA[A] / N_dC - (N_dA[A] - N_dCdA[A]) / (m - N_dC)

``diff`` is |a - b| / range for numbers (after log10 for rate-like columns)
and 0/1 for categories; the distance between rows is the sum of the diffs.
N-RReliefF turns W into shares that sum to 1. The paper does not pin the
normalization down; ours (default ``"clip"``) sets negative weights to zero and
divides by the sum: an attribute that hurts prediction gets no importance.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import scipy.stats

NORMALIZATIONS = ("clip", "shift", "none")
WEIGHTINGS = ("rank", "equal")


@dataclasses.dataclass(frozen=True)
class ReliefConfig:
    k: int = 10  # neighbours per sampled row
    samples: int | None = None  # rows sampled as R; None: every row once
    weighting: str = "rank"  # "rank": d_j ~ exp(-(rank_j / sigma)^2); "equal": 1/k
    sigma: float | None = None  # rank-weight width; None: k / 3
    log_columns: tuple[str, ...] = ()  # compared on a log10 scale
    normalization: str = "clip"  # "clip": max(W, 0) / sum; "shift": W - min; "none"
    seed: int = 0


def _encode(frame: pd.DataFrame, log_columns) -> tuple[np.ndarray, np.ndarray]:
    """Columns scaled to [0, 1] (numeric) or integer codes (categorical)."""
    columns, categorical = [], []
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            values = col.to_numpy(float)
            if name in log_columns:
                if np.any(values <= 0):
                    raise ValueError(f"column {name!r} has values <= 0; it cannot be log-scaled")
                values = np.log10(values)
            span = values.max() - values.min()
            columns.append((values - values.min()) / span if span > 0 else values * 0)
            categorical.append(False)
        else:
            columns.append(pd.factorize(col.astype(str))[0].astype(float))
            categorical.append(True)
    return np.stack(columns, axis=1), np.array(categorical)


def _diffs(x: np.ndarray, categorical: np.ndarray, rows: np.ndarray, others: np.ndarray):
    """diff(A) for every (row, other) pair: shape rows x others x attributes."""
    delta = np.abs(x[rows][:, None, :] - x[others][None, :, :])
    return np.where(categorical, delta > 0, delta)


def rrelieff_weights(frame: pd.DataFrame, target, config: ReliefConfig = ReliefConfig()):
    """Raw RReliefF weights W[A] (a Series over ``frame``'s columns)."""
    if config.weighting not in WEIGHTINGS:
        raise ValueError(f"weighting {config.weighting!r} is not one of {WEIGHTINGS}")
    y = np.asarray(target, float)
    if len(y) != len(frame):
        raise ValueError(f"{len(y)} target values for {len(frame)} rows")
    keep = np.isfinite(y)
    frame, y = frame[keep], y[keep]
    n = len(y)
    k = min(config.k, n - 1)
    if k < 1:
        raise ValueError("RReliefF needs at least 2 rows with a finite target")
    x, categorical = _encode(frame, set(config.log_columns))
    span = y.max() - y.min()
    y = (y - y.min()) / span if span > 0 else y * 0

    rng = np.random.default_rng(config.seed)
    rows = np.arange(n) if config.samples is None else rng.choice(n, config.samples)
    m = len(rows)
    diff_a = _diffs(x, categorical, rows, np.arange(n))  # m x n x p
    distance = diff_a.sum(-1)
    distance[np.arange(m), rows] = np.inf  # a row is not its own neighbour
    # Ties in distance are broken at random, not by row order.
    jitter = rng.random(distance.shape) * 1e-9
    neighbours = np.argsort(distance + jitter, axis=1, kind="stable")[:, :k]  # m x k

    if config.weighting == "rank":
        sigma = config.sigma or k / 3
        d1 = np.exp(-((np.arange(1, k + 1) / sigma) ** 2))
    else:
        d1 = np.ones(k)
    d = d1 / d1.sum()  # the same for every row: weights depend on rank only

    picked_a = np.take_along_axis(diff_a, neighbours[..., None], axis=1)  # m x k x p
    diff_c = np.abs(y[rows][:, None] - y[neighbours])  # m x k
    n_dc = float((diff_c * d).sum())
    n_da = (picked_a * d[None, :, None]).sum((0, 1))
    n_dcda = (picked_a * (diff_c * d)[..., None]).sum((0, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        w = n_dcda / n_dc - (n_da - n_dcda) / (m - n_dc)
    return pd.Series(np.nan_to_num(w), index=list(frame.columns))


def normalize(weights: pd.Series, how: str = "clip") -> pd.Series:
    """RReliefF weights as shares that sum to 1 (see the module doc)."""
    if how == "clip":
        w = weights.clip(lower=0)
    elif how == "shift":
        w = weights - weights.min()
    elif how == "none":
        return weights
    else:
        raise ValueError(f"normalization {how!r} is not one of {NORMALIZATIONS}")
    total = w.sum()
    return w / total if total > 0 else w * 0


def nrrelieff(frame: pd.DataFrame, target, config: ReliefConfig = ReliefConfig()) -> pd.Series:
    """N-RReliefF importances, highest first."""
    weights = rrelieff_weights(frame, target, config)
    return normalize(weights, config.normalization).sort_values(ascending=False)


def _distribution(col: pd.Series, log: bool):
    import optuna.distributions as od

    if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
        return od.CategoricalDistribution(sorted(col.astype(str).unique()))
    if pd.api.types.is_integer_dtype(col):
        return od.IntDistribution(int(col.min()), int(col.max()), log=log)
    return od.FloatDistribution(float(col.min()), float(col.max()), log=log)


def fanova(frame: pd.DataFrame, target, log_columns=(), seed: int = 0) -> pd.Series:
    """fANOVA importances through optuna's evaluator (shares summing to 1)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    y = np.asarray(target, float)
    keep = np.isfinite(y)
    frame, y = frame[keep], y[keep]
    dists = {c: _distribution(frame[c], c in log_columns) for c in frame.columns}
    study = optuna.create_study(direction="minimize")
    for row, value in zip(frame.itertuples(index=False), y, strict=False):
        params = {}
        for name, v in zip(frame.columns, row, strict=False):
            dist = dists[name]
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                params[name] = str(v)
            elif isinstance(dist, optuna.distributions.IntDistribution):
                params[name] = int(v)
            else:
                params[name] = float(v)
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value))
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    shares = optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=True)
    return (
        pd.Series(shares, dtype=float)
        .reindex(frame.columns)
        .fillna(0.0)
        .sort_values(ascending=False)
    )


def agreement(a: pd.Series, b: pd.Series) -> dict:
    """Rank agreement of two importance vectors over the same names."""
    names = sorted(set(a.index) & set(b.index))
    x, y = a[names].to_numpy(), b[names].to_numpy()
    tau = scipy.stats.kendalltau(x, y).statistic
    rho = scipy.stats.spearmanr(x, y).statistic
    top_a, top_b = a[names].idxmax(), b[names].idxmax()
    return {"kendall_tau": float(tau), "spearman": float(rho), "same_top": bool(top_a == top_b)}
