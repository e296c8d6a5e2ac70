"""The committed hyperparameter-lists study: its sweep, its held-out lists and
the shipped list, read from results/sweeps/ and submissions/search_spaces/."""

import json
import os

import pytest

from algoperf_lite.analysis import lists
from algoperf_lite.papers.lists import study as lists_study
from algoperf_lite.tuning import reports, search_space, sweeps
from workloads import WORKLOADS, suite

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SWEEPS = os.path.join(ROOT, "results", "sweeps")
STUDY = {w.name for name in lists_study.SUITES for w in suite(name)}


@pytest.fixture(scope="module")
def broad():
    return sweeps.load(os.path.join(SWEEPS, "nadamw_broad.csv.gz"))


@pytest.fixture(scope="module")
def result():
    return lists_study.evaluate(SWEEPS, WORKLOADS)


def test_committed_sweep_covers_every_offline_and_variant_workload(broad):
    assert len(STUDY) == 12 and set(broad["workload"]) == STUDY
    assert (broad.groupby("workload")["point"].nunique() >= lists_study.NUM_POINTS).all()
    # Every trial that did not diverge ran its full step budget (no early stop).
    finals = sweeps.finals(broad)
    ran = finals[finals["status"] != "diverged"]
    budgets = ran["workload"].map(lambda w: WORKLOADS[w].step_hint)
    assert (ran["global_step"] == budgets).all()
    # The same quasi-random points on every workload.
    space = search_space.load(os.path.join(SWEEPS, lists_study.SPACE_FILE))
    first = search_space.points(space, 1, seed=0)[0]
    for w in STUDY:
        got = lists.hparams_of(broad[broad["workload"] == w], 0)
        assert got == pytest.approx(first, rel=1e-5)


def test_held_out_lists_never_see_the_held_out_family(result, broad):
    steps = result["steps"]
    for w in steps.columns:
        family = {v for v in steps.columns if result["family"][v] == result["family"][w]}
        assert len(family) == 2  # a base and its variant
        want = lists.build(steps.drop(columns=sorted(family)), lists_study.LENGTH)
        assert result["lists"]["family"][w] == [lists.hparams_of(broad, p) for p in want]
        alone = lists.build(steps.drop(columns=[w]), lists_study.LENGTH)
        assert result["lists"]["workload"][w] == [lists.hparams_of(broad, p) for p in alone]


def test_speed_up_claims_bracket_their_estimates(result):
    assert set(result["claims"]) == {
        (h, b) for h in lists_study.HOLD_OUTS for b in (1.0, lists_study.PAPER_SPEED_UP)
    }
    for claim in result["claims"].values():
        assert claim.low <= claim.estimate <= claim.high
        assert claim.verdict in ("holds", "fails", "undecided")


def test_the_shipped_list_is_the_one_the_committed_sweep_gives(result):
    path = os.path.join(search_space.SPACES_DIR, lists_study.SHIPPED_LIST)
    with open(path) as f:
        shipped = json.load(f)
    assert shipped == result["full_list"] and len(shipped) == lists_study.LENGTH
    assert search_space.load(path) == shipped  # a valid list-form search space
    assert reports.BASELINES["nadamw_list"] == ("nadamw", "nadamw_list")
