"""Greedy lists, leave-one-workload-out, and the steps table, on hand-checkable data."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from algoperf_lite.analysis import lists
from workloads import WORKLOADS

INF = math.inf
# steps[point, workload]: p0 is the fastest on a only, p1 on b only, p2 is decent on all,
# p3 misses everything, p4 is fastest on c.
STEPS = pd.DataFrame(
    {"a": [100, 400, 200, INF, 800], "b": [INF, 100, 200, INF, 800], "c": [INF, INF, 300, INF, 100]}
)


def test_outcomes_normalize_per_workload():
    o = lists.outcomes(STEPS)
    assert o.loc[2].tolist() == pytest.approx([0.5, 0.5, 1 / 3])
    assert o.loc[3].tolist() == [0, 0, 0] and o.max().tolist() == [1, 1, 1]


def test_greedy_picks_coverage_first_then_speed():
    # Length 1: p2 reaches every target (cost 1 - mean(.5,.5,.33) = .556); p0 only a (.667).
    assert lists.build(STEPS, 1) == [2]
    # Then p4 (c: 1/3 -> 1) lowers the cost most; then p0 and p1 tie on the gain
    # (a or b: 1/2 -> 1) and p1 wins on the larger outcome sum (1.25 against 1).
    assert lists.build(STEPS, 3) == [2, 4, 1]
    chosen = lists.build(STEPS, 5)
    costs = [lists.cost(lists.outcomes(STEPS), chosen[:k]) for k in range(6)]
    assert all(a >= b for a, b in zip(costs, costs[1:], strict=False))
    assert costs[4] == pytest.approx(0.0) and chosen[-1] == 3  # the useless point comes last


def test_leave_one_out_never_sees_the_held_out_workload():
    table, chosen = lists.leave_one_out(STEPS, length=2, draws=200)
    changed = STEPS.copy()
    changed["a"] = [INF, INF, INF, 5, INF]  # a completely different held-out column
    table2, chosen2 = lists.leave_one_out(changed, length=2, draws=200)
    assert chosen["a"] == chosen2["a"] == lists.build(STEPS[["b", "c"]], 2)
    row = table2[(table2.workload == "a") & (table2.method == "list")]
    assert row["median"].tolist() == [INF, INF]  # p3 is not in a list built on b and c
    full, _ = lists.leave_one_out(STEPS, length=5, draws=200)
    qr = full[(full.workload == "c") & (full.method == "quasi-random") & (full.k == 5)]
    assert qr["median"].iloc[0] == 100 and qr["p_miss"].iloc[0] == 0  # all 5 points drawn


def test_random_subsets_and_ordered_baselines():
    rng = np.random.default_rng(0)
    values = np.array([5.0, 1.0, INF, 3.0])
    draws = lists.random_subsets(values, 2, 4000, rng)
    # P(best of 2 distinct = 1) = 1 - C(3,2)/C(4,2) = 0.5
    assert np.mean(draws == 1.0) == pytest.approx(0.5, abs=0.03)
    assert lists.best_of_prefixes(values, 4) == [5.0, 1.0, 1.0, 1.0]
    ordered = pd.DataFrame(
        {
            "a": [300, 100, 50, 400, 400] * 2,
            "b": [INF] * 10,
            "c": [1] * 10,
            "order": list(range(5)) * 2,
            "seed": [0] * 5 + [1] * 5,
        }
    )
    table, _ = lists.leave_one_out(STEPS, length=3, baselines={"fixed": ordered}, draws=50)
    got = table[(table.workload == "a") & (table.method == "fixed")]["median"].tolist()
    assert got == [300, 100, 50]


def test_steps_table_reads_first_hit_from_curves():
    mlp = dataclasses.replace(WORKLOADS["mnist1d_mlp"], validation_target=0.7)
    digits = dataclasses.replace(WORKLOADS["digits_cnn"], validation_target=0.1)
    rows = []
    for point, curve in enumerate([[0.5, 0.71, 0.6], [0.5, 0.6, 0.65]]):
        rows += [
            dict(workload=mlp.name, point=point, seed=0, global_step=100 * (i + 1), value=v)
            for i, v in enumerate(curve)
        ]
    for point, curve in enumerate([[0.5, 0.2, 0.09], [0.05, float("nan"), 0.5]]):
        rows += [
            dict(workload=digits.name, point=point, seed=0, global_step=30 * (i + 1), value=v)
            for i, v in enumerate(curve)
        ]
    table = lists.steps_table(pd.DataFrame(rows), {mlp.name: mlp, digits.name: digits})
    assert table[mlp.name].tolist() == [200, INF]
    assert table[digits.name].tolist() == [90, 30]


def test_leave_one_family_out_never_sees_the_family():
    # a and b are one family: the list held out for a is built on c alone, and
    # the same list whatever a or b hold.
    excluded = lists.family_members({"a": "ab", "b": "ab", "c": "c"})
    assert excluded == {"a": {"b"}, "b": {"a"}, "c": set()}
    _, chosen = lists.leave_one_out(STEPS, length=2, draws=50, excluded=excluded)
    assert chosen["a"] == chosen["b"] == lists.build(STEPS[["c"]], 2) == [4, 2]
    changed = STEPS.assign(b=[1, INF, INF, INF, INF])
    _, chosen2 = lists.leave_one_out(changed, length=2, draws=50, excluded=excluded)
    assert chosen2["a"] == chosen["a"]
    _, by_workload = lists.leave_one_out(changed, length=2, draws=50)
    assert by_workload["a"] != chosen["a"]  # leave one workload out does see b
    with pytest.raises(lists.UserError, match="no training workload"):
        lists.leave_one_out(STEPS[["a", "b"]], excluded={"a": {"b"}})


def test_speed_up_counts_random_trials_to_match_the_list():
    # 10 points: one reaches the target in 100 steps, the rest miss.
    steps = pd.Series([100.0] + [INF] * 9)
    # The median best of k random points hits once k >= 5 (P = k / 10 >= 1/2).
    assert lists.speed_up(steps, 100.0, length=5) == (1.0, False)
    assert lists.speed_up(steps, 100.0, length=1) == (5.0, False)
    assert lists.speed_up(steps, INF, length=5) == (0.2, False)  # a list that misses
    assert lists.speed_up(steps, 50.0, length=5) == (2.0, True)  # never matched: censored
