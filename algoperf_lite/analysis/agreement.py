"""How well one ranking matches another: Kendall's tau and Spearman's rho with
bootstrap intervals (our ranking of AlgoPerf's leaderboard against the official one)."""

from __future__ import annotations

import numpy as np


def ranks(scores: dict) -> dict:
    """1 for the highest score; ties share the best rank they span."""
    from scipy import stats

    names = list(scores)
    order = stats.rankdata([-scores[n] for n in names], method="min")
    return {n: int(r) for n, r in zip(names, order, strict=True)}


def rank_agreement(ours: dict, draws: dict, official: dict, seed: int = 0) -> dict:
    """Kendall's tau and Spearman's rho between our scores and the official ones,
    with 95% intervals over draws that resample studies (``draws``) and entries."""
    from scipy import stats

    names = list(ours)
    theirs = np.array([official[n] for n in names])
    mine = np.array([ours[n] for n in names])
    table = np.array([draws[n] for n in names])  # entry x draw
    rng = np.random.default_rng(seed)
    taus, rhos = [], []
    for d in range(table.shape[1]):
        pick = rng.integers(0, len(names), len(names))
        if len(set(pick)) < 3:
            continue
        taus.append(stats.kendalltau(table[pick, d], theirs[pick]).statistic)
        rhos.append(stats.spearmanr(table[pick, d], theirs[pick]).statistic)

    def summary(value, sample):
        sample = np.asarray(sample, float)
        sample = sample[np.isfinite(sample)]  # ties everywhere leave tau undefined
        low, high = np.percentile(sample, [2.5, 97.5]) if len(sample) else (np.nan, np.nan)
        return {"value": float(value), "low": float(low), "high": float(high)}

    return {
        "kendall_tau": summary(stats.kendalltau(mine, theirs).statistic, taus),
        "spearman_rho": summary(stats.spearmanr(mine, theirs).statistic, rhos),
        "entries": len(names),
        "draws": len(taus),
    }
