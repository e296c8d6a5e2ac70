"""Hyperparameter loss landscapes: fitness landscape analysis on a grid.

A landscape is a loss (lower is better) at every point of a grid of
hyperparameter values. Each hyperparameter is a grid axis: numbers are
ordered (distance = number of grid steps), categories are not (distance 0 or
1). Two points are neighbours at distance 1. The metrics follow Huang & Li
(2023): fitness-distance correlation, local optima, basins of best-improvement
hill climbing, neutrality, neutrality-distance correlation, lag-1
autocorrelation along random walks and performance assortativity; the
similarity of two landscapes on one grid is Spearman's rho, the overlap of
their best 10% and the mean absolute rank change as a share of the grid size
("shake-up": 0 for the same order, about 1/3 for unrelated ones).

Non-finite losses (diverged runs) become the landscape's worst finite loss:
a diverged run is as bad as the worst one that finished (our choice).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import scipy.stats

NEUTRAL_EPSILON = 0.01


@dataclasses.dataclass(frozen=True)
class Landscape:
    coords: np.ndarray  # (n, p) integer grid positions (category codes for categories)
    categorical: np.ndarray  # (p,) bool
    loss: np.ndarray  # (n,)
    names: tuple[str, ...] = ()

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, loss, categorical=()) -> Landscape:
        """Grid positions from the distinct values of each column, in order."""
        coords = []
        for name in frame.columns:
            if name in categorical:
                codes = pd.factorize(frame[name])[0]
            else:
                codes = np.searchsorted(np.sort(frame[name].unique()), frame[name].to_numpy())
            coords.append(codes)
        loss = np.asarray(loss, float)
        finite = np.isfinite(loss)
        if not finite.any():
            raise ValueError("every loss in the landscape is non-finite")
        loss = np.where(finite, loss, loss[finite].max())
        flags = np.array([name in categorical for name in frame.columns])
        return cls(np.stack(coords, axis=1), flags, loss, tuple(frame.columns))

    @property
    def size(self) -> int:
        return len(self.loss)

    def distances(self, rows=None) -> np.ndarray:
        """Grid distance from ``rows`` (default: every point) to every point."""
        rows = np.arange(self.size) if rows is None else np.atleast_1d(rows)
        delta = np.abs(self.coords[rows][:, None, :] - self.coords[None, :, :])
        return np.where(self.categorical, delta > 0, delta).sum(-1)

    def neighbours(self) -> list[np.ndarray]:
        near = self.distances() == 1
        return [np.flatnonzero(row) for row in near]

    def edges(self) -> np.ndarray:
        """Each neighbour pair once, as (i, j) with i < j."""
        i, j = np.nonzero(np.triu(self.distances() == 1))
        return np.stack([i, j], axis=1)


def best_index(land: Landscape) -> int:
    return int(np.argmin(land.loss))


def fitness_distance_correlation(land: Landscape) -> float:
    distance = land.distances(best_index(land))[0]
    return float(scipy.stats.spearmanr(land.loss, distance).statistic)


def local_optima(land: Landscape) -> np.ndarray:
    """Points with no strictly better neighbour."""
    return np.array(
        [i for i, nb in enumerate(land.neighbours()) if not (land.loss[nb] < land.loss[i]).any()]
    )


def basins(land: Landscape) -> np.ndarray:
    """For every point, the local optimum where best-improvement climbing ends."""
    neighbours = land.neighbours()
    step = np.arange(land.size)
    for i, nb in enumerate(neighbours):
        if len(nb):
            j = nb[np.argmin(land.loss[nb])]
            if land.loss[j] < land.loss[i]:
                step[i] = j
    end = step.copy()
    while True:  # pointer jumping: every climb is strictly downhill, so it ends
        nxt = step[end]
        if np.array_equal(nxt, end):
            return end
        end = nxt


def neutrality(land: Landscape, epsilon: float = NEUTRAL_EPSILON) -> float:
    """Share of neighbour pairs whose losses differ by at most ``epsilon``."""
    i, j = land.edges().T
    return float(np.mean(np.abs(land.loss[i] - land.loss[j]) <= epsilon))


def neutrality_distance_correlation(land: Landscape, epsilon: float = NEUTRAL_EPSILON) -> float:
    """Spearman of each point's neutral-neighbour share vs its distance to the best."""
    share = np.array(
        [
            np.mean(np.abs(land.loss[nb] - land.loss[i]) <= epsilon)
            for i, nb in enumerate(land.neighbours())
        ]
    )
    distance = land.distances(best_index(land))[0]
    if np.ptp(share) == 0:
        return float("nan")  # every point equally neutral: no correlation to speak of
    return float(scipy.stats.spearmanr(share, distance).statistic)


def autocorrelation(land: Landscape, walks: int = 1000, length: int = 20, seed: int = 0) -> float:
    """Lag-1 autocorrelation of the loss along uniform random walks (pooled)."""
    rng = np.random.default_rng(seed)
    neighbours = land.neighbours()
    series = []
    for _ in range(walks):
        node = rng.integers(land.size)
        path = [node]
        for _ in range(length - 1):
            if not len(neighbours[node]):
                break
            node = rng.choice(neighbours[node])
            path.append(node)
        series.append(land.loss[path])
    mean = np.concatenate(series).mean()
    num = sum(float(np.dot(s[:-1] - mean, s[1:] - mean)) for s in series)
    den = sum(float(np.dot(s - mean, s - mean)) for s in series)
    return num / den if den else float("nan")


def assortativity(land: Landscape) -> float:
    """Pearson correlation of the loss across neighbour edges (both directions)."""
    i, j = land.edges().T
    a = np.concatenate([land.loss[i], land.loss[j]])
    b = np.concatenate([land.loss[j], land.loss[i]])
    return float(np.corrcoef(a, b)[0, 1])


def metrics(land: Landscape, epsilon: float = NEUTRAL_EPSILON, seed: int = 0) -> dict:
    ends = basins(land)
    optima, sizes = np.unique(ends, return_counts=True)
    best = best_index(land)
    return {
        "points": land.size,
        "fdc": fitness_distance_correlation(land),
        "local_optima": len(local_optima(land)),
        "global_basin_share": float(np.mean(ends == ends[best])),
        "mean_basin_size": float(sizes.mean()),
        "neutrality": neutrality(land, epsilon),
        "ndc": neutrality_distance_correlation(land, epsilon),
        "autocorrelation": autocorrelation(land, seed=seed),
        "assortativity": assortativity(land),
    }


def similarity(a, b, top: float = 0.1) -> dict:
    """Similarity of two loss vectors over the same grid points, in the same order."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        raise ValueError(f"landscapes differ in size: {a.shape} vs {b.shape}")
    count = max(1, int(round(top * len(a))))
    best_a, best_b = set(np.argsort(a)[:count]), set(np.argsort(b)[:count])
    ranks_a, ranks_b = scipy.stats.rankdata(a), scipy.stats.rankdata(b)
    return {
        "spearman": float(scipy.stats.spearmanr(a, b).statistic),
        "top_jaccard": len(best_a & best_b) / len(best_a | best_b),
        "shake_up": float(np.mean(np.abs(ranks_a - ranks_b)) / len(a)),
    }
