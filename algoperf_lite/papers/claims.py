"""What the paper studies share: learning-rate grids extended until the best
rate is bracketed, a resumable journal of their runs, and claim-by-claim
verdicts from paired bootstrap intervals.

A study compares methods by their final training loss on the same seeds (the
same initial weights and batch order), so method differences are paired by
seed. A claim "A ends below B" is judged on the geometric mean, over the
workloads, of the per-workload mean ratio loss_A / loss_B, with its 95%
interval from resampling the seeds within each workload (our choice of
statistic): it **holds** when the interval lies below 1 (or, for "no worse"
claims, below 1 + margin), **fails** when it lies above, and is **undecided**
otherwise.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from algoperf_lite.analysis.scoring import BOOTSTRAP_DRAWS, LEVEL, interval
from algoperf_lite.train import planning
from algoperf_lite.tuning import sweeps

# Grids are half-decade steps: rate(k) = 10 ** (k / 2), to three digits.
STEPS_PER_DECADE = 2
MAX_RATES = 12  # a grid still unbracketed at this size is a failure of the study
# A diverged run's loss in a ratio: far above any real loss, but finite, so a
# diverged method loses every paired comparison it is in.
DIVERGED_LOSS = 1e6


def rate(k: int) -> float:
    """The k-th rate of the half-decade grid (k = -6 is 1e-3)."""
    return float(f"{10 ** (k / STEPS_PER_DECADE):.3g}")


@dataclasses.dataclass
class Bracket:
    """A method's grid: the rates tried, their scores (inf: diverged), the best."""

    rates: list[float]
    scores: list[float]

    @property
    def best_index(self) -> int:
        return int(np.argmin(self.scores)) if any(map(math.isfinite, self.scores)) else 0

    @property
    def best(self) -> float:
        return self.rates[self.best_index] if self.rates else math.nan

    @property
    def interior(self) -> bool:
        """Both neighbours of the best rate were tried and are worse (or diverged)."""
        return 0 < self.best_index < len(self.rates) - 1

    @property
    def neighbours(self) -> tuple[float | None, float | None]:
        i = self.best_index
        below = self.rates[i - 1] if i > 0 else None
        above = self.rates[i + 1] if i + 1 < len(self.rates) else None
        return below, above


def bracket(score_of: Callable[[int], float], start: Sequence[int]) -> Bracket:
    """Score the grid indices ``start``, then extend the grid one half-decade at
    a time on the side of the best rate until it is interior (or ``MAX_RATES``
    are tried). ``score_of(k)`` scores rate(k); lower is better, inf diverged."""
    tried = {k: score_of(k) for k in start}
    while True:
        ks = sorted(tried)
        result = Bracket([rate(k) for k in ks], [tried[k] for k in ks])
        if result.interior or len(ks) >= MAX_RATES:
            return result
        k = ks[0] - 1 if result.best_index == 0 else ks[-1] + 1
        tried[k] = score_of(k)


def mean_loss(losses: Sequence[float | None]) -> float:
    """A grid point's score: the mean final loss over seeds, inf if any diverged."""
    if any(v is None or not math.isfinite(v) for v in losses):
        return math.inf
    return float(np.mean(losses))


KEY = ("workload", "method", "rate", "seed", "budget")  # one run of a paper study


def journal(path: str, workloads) -> sweeps.Journal:
    """A study's resumable journal: a run of a workload whose definition has
    changed since is not read back (and is rerun)."""
    hashes = {w.name: w.definition_hash for w in workloads}
    return sweeps.Journal(path, KEY, lambda r: hashes.get(r["workload"]))


def load_runs(path: str) -> list[dict]:
    """The runs of a study's committed journal (its newest line per key)."""
    latest = {}
    for r in sweeps.read_records(path):
        latest[tuple(r[k] for k in KEY)] = r
    return list(latest.values())


def finite_loss(value) -> float:
    return value if value is not None and math.isfinite(value) else DIVERGED_LOSS


@dataclasses.dataclass
class Claim:
    """A claim that a statistic lies below ``bound`` (above it when ``above``),
    judged by its bootstrap interval [low, high]."""

    text: str
    estimate: float
    low: float
    high: float
    bound: float = 1.0
    above: bool = False
    sample: str = ""  # what was resampled

    @property
    def verdict(self) -> str:
        lo, hi = (self.low, self.high) if not self.above else (-self.high, -self.low)
        bound = -self.bound if self.above else self.bound
        if hi < bound:
            return "holds"
        if lo > bound:
            return "fails"
        return "undecided"

    def line(self) -> str:
        side = ">" if self.above else "<"
        return (
            f"| {self.text} | **{self.verdict}** | {self.estimate:.3f} "
            f"[{self.low:.3f}, {self.high:.3f}] {side} {self.bound:.3g}? | {self.sample} |"
        )


def interval_claim(
    text: str, estimate: float, draws: np.ndarray, bound: float, above: bool, sample: str
) -> Claim:
    """A claim on a statistic from its value and its values in bootstrap draws."""
    low, high = interval(np.asarray(draws, dtype=float), LEVEL)
    return Claim(text, float(estimate), low, high, bound, above, sample)


def resampled(units: Sequence, statistic: Callable, draws: int = 1000, seed: int = 0):
    """``statistic`` of ``draws`` resamplings (with replacement) of ``units``."""
    rng = np.random.default_rng(seed)
    units = list(units)
    return np.array(
        [
            statistic([units[i] for i in rng.integers(0, len(units), len(units))])
            for _ in range(draws)
        ]
    )


def paired_claim(
    text: str,
    a: dict[str, Sequence[float]],
    b: dict[str, Sequence[float]],
    margin: float = 0.0,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
    unit: str = "seeds",
) -> Claim:
    """Judge "A ends below B": ``a[w][i]`` and ``b[w][i]`` are the final losses of
    A and B on workload ``w`` with seed i (paired). See the module docstring."""
    rng = np.random.default_rng(seed)
    logs = {
        w: np.log([finite_loss(x) for x in a[w]]) - np.log([finite_loss(y) for y in b[w]])
        for w in a
        if len(a[w]) and len(a[w]) == len(b.get(w, ()))
    }
    if not logs:  # nothing to compare (the runs are missing): no verdict
        return Claim(text, math.nan, math.nan, math.nan, 1 + margin, sample="no runs")
    estimate = np.mean([v.mean() for v in logs.values()])
    drawn = np.zeros(draws)
    for v in logs.values():
        drawn += v[rng.integers(0, len(v), size=(draws, len(v)))].mean(axis=1)
    drawn /= len(logs)
    low, high = interval(drawn, LEVEL)
    seeds = min(len(v) for v in logs.values())
    return Claim(
        text,
        float(np.exp(estimate)),
        float(np.exp(low)),
        float(np.exp(high)),
        bound=1 + margin,
        sample=f"{len(logs)} workloads x {seeds} {unit}",
    )


PAIRED_TEST = (
    "Ratio: geometric mean over workloads of the per-workload mean ratio of final "
    f"training losses (A / B), seeds paired; [{LEVEL:.0%} interval] from "
    f"{BOOTSTRAP_DRAWS} resamplings of the seeds within each workload. A claim "
    'holds when the interval lies below 1 (below 1 + margin for a "no worse" '
    "claim), fails when it lies above, and is undecided otherwise (our test)."
)


def claims_markdown(claims: list[Claim], test: str = PAIRED_TEST) -> list[str]:
    """The closing section of a paper report: one line per claim."""
    return [
        "## Verdicts, claim by claim",
        "",
        test,
        "",
        "| claim | verdict | estimate [95% interval] vs bound | resampled |",
        "|---|---|---|---|",
        *[c.line() for c in claims],
        "",
    ]


def finite_or_null(obj):
    """``obj`` with NaN and infinities as None (strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_or_null(v) for v in obj]
    return obj


def run_cell(book, workload, submission, record: dict, hparams: dict, seeds, lanes, summary):
    """The runs of one grid point (``record``: workload, method, rate and budget)
    on ``seeds``: read back from the journal ``book``, or trained ``lanes`` at a
    time and appended to it. ``summary(result)`` gives each run's stored fields."""
    todo = [s for s in seeds if book.key_of({**record, "seed": s}) not in book.records]
    if todo:
        results = planning.run_points(
            workload, submission, [hparams] * len(todo), todo, min(lanes, len(todo)), False
        )
        book.add(
            [
                finite_or_null({**record, "seed": s, **summary(r)})
                for s, r in zip(todo, results, strict=True)
            ]
        )
    return [book.records[book.key_of({**record, "seed": s})] for s in seeds]
