"""Bracketed grids and paired claim verdicts (algoperf_lite.papers.claims)."""

import math

import numpy as np
import pytest

from algoperf_lite.papers import claims


def test_rates_are_half_decades():
    assert [claims.rate(k) for k in (-6, -5, -2, 0, 1)] == [1e-3, 3.16e-3, 0.1, 1.0, 3.16]


@pytest.mark.parametrize("best", [-9, -4, 0, 3])
def test_bracket_extends_towards_the_best_until_it_is_interior(best):
    calls = []

    def score(k):
        calls.append(k)
        return (k - best) ** 2 + 1.0

    grid = claims.bracket(score, (-2, -1, 0))
    assert grid.interior and grid.best == claims.rate(best)
    assert grid.neighbours == (claims.rate(best - 1), claims.rate(best + 1))
    assert len(calls) == len(set(calls))  # no point scored twice
    assert sorted(calls) == list(range(min(calls), max(calls) + 1))  # contiguous


def test_divergence_counts_as_worse_and_everything_diverging_extends_down():
    grid = claims.bracket(lambda k: math.inf if k > -3 else 1.0 + abs(k + 5), (-2, -1, 0))
    assert grid.best == claims.rate(-5) and grid.interior


def test_a_grid_that_never_brackets_is_reported_as_an_edge():
    grid = claims.bracket(lambda k: -k, (0, 1))  # keeps improving upward
    assert len(grid.rates) == claims.MAX_RATES and not grid.interior
    assert grid.best == max(grid.rates)


def test_mean_loss_treats_any_divergence_as_divergence():
    assert claims.mean_loss([1.0, 3.0]) == 2.0
    assert claims.mean_loss([1.0, None]) == math.inf
    assert claims.mean_loss([1.0, math.nan]) == math.inf


def _noisy(ratio, noise, workloads=3, seeds=5, seed=0):
    rng = np.random.default_rng(seed)
    b = {f"w{i}": list(rng.uniform(0.5, 2.0, seeds)) for i in range(workloads)}
    a = {w: [v * ratio * rng.lognormal(0, noise) for v in vs] for w, vs in b.items()}
    return a, b


def test_paired_claim_verdicts():
    assert claims.paired_claim("x", *_noisy(0.8, 0.01)).verdict == "holds"
    assert claims.paired_claim("x", *_noisy(1.25, 0.01)).verdict == "fails"
    assert claims.paired_claim("x", *_noisy(1.0, 0.3)).verdict == "undecided"
    # "no worse" with a margin: 0.5% above B holds within 1%, 3% above fails.
    assert claims.paired_claim("x", *_noisy(1.005, 0.001), margin=0.01).verdict == "holds"
    assert claims.paired_claim("x", *_noisy(1.03, 0.001), margin=0.01).verdict == "fails"


def test_paired_claim_is_paired_and_its_interval_covers_the_estimate():
    a, b = _noisy(0.9, 0.0)  # the same ratio on every seed: no paired noise at all
    c = claims.paired_claim("x", a, b)
    assert c.estimate == pytest.approx(0.9) and c.high - c.low < 1e-9
    a, b = _noisy(0.9, 0.2)
    c = claims.paired_claim("x", a, b)
    assert c.low < c.estimate < c.high and c.sample == "3 workloads x 5 seeds"


def test_a_diverged_run_loses_its_comparison():
    a = {"w": [math.inf, None, 1.0]}
    b = {"w": [1.0, 1.0, 1.0]}
    assert claims.paired_claim("x", a, b).estimate > 1e3


def test_journal_reads_back_only_runs_of_the_current_definitions(tmp_path):
    from workloads import WORKLOADS

    w = WORKLOADS["digits_logreg"]
    path = str(tmp_path / "runs.jsonl")
    book = claims.journal(path, [w])
    run = {"workload": w.name, "method": "m", "rate": 0.1, "seed": 0, "budget": "b", "loss": 1}
    book.add([run])
    assert book.key_of(run) in claims.journal(path, [w]).records
    with open(path) as f:
        line = f.read().replace(w.definition_hash, "0" * 8)
    with open(path, "w") as f:
        f.write(line)
    assert claims.journal(path, [w]).records == {}  # a changed workload starts afresh


def test_interval_claims_above_and_below_a_bound():
    values = np.linspace(0.8, 0.9, 20)
    draws = claims.resampled(values, np.median, draws=200)
    assert claims.interval_claim("x", 0.85, draws, 0.7, True, "").verdict == "holds"
    assert claims.interval_claim("x", 0.85, draws, 0.7, False, "").verdict == "fails"
    assert claims.interval_claim("x", 0.85, draws, 0.85, True, "").verdict == "undecided"
