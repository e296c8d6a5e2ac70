"""The leaderboard replay's statistics, on hand-checkable scores."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "scripts")
)
import leaderboard_replay as replay  # noqa: E402

from algoperf_lite.analysis import agreement  # noqa: E402

OFFICIAL = {"a": 0.9, "b": 0.7, "c": 0.5, "d": 0.3}


def test_rank_agreement_of_the_same_and_of_the_reversed_order():
    same = {n: 1 - v for n, v in OFFICIAL.items()}  # reversed
    fixed = {n: np.full(200, v) for n, v in OFFICIAL.items()}
    agree = agreement.rank_agreement(dict(OFFICIAL), fixed, OFFICIAL)
    assert agree["kendall_tau"]["value"] == pytest.approx(1.0)
    assert agree["spearman_rho"]["low"] == pytest.approx(1.0)  # no noise: every draw agrees
    flipped = {n: np.full(200, v) for n, v in same.items()}
    against = agreement.rank_agreement(same, flipped, OFFICIAL)
    assert against["kendall_tau"]["value"] == pytest.approx(-1.0)
    assert against["kendall_tau"]["high"] == pytest.approx(-1.0)


def test_noisy_scores_widen_the_interval_and_ties_share_a_rank():
    rng = np.random.default_rng(0)
    noisy = {n: v + rng.normal(0, 0.3, 500) for n, v in OFFICIAL.items()}
    agree = agreement.rank_agreement(dict(OFFICIAL), noisy, OFFICIAL)
    assert agree["kendall_tau"]["low"] < 0.5 < agree["kendall_tau"]["value"]
    assert agreement.ranks({"a": 1.0, "b": 0.0, "c": 0.0}) == {"a": 1, "b": 2, "c": 2}


def test_every_replayed_entry_names_its_source(tmp_path):
    chosen = replay.sources(str(tmp_path))
    assert len(chosen) >= 8
    for path, space, ours in chosen.values():
        assert space.endswith("tuning_search_space.json")
        assert os.path.isfile(path) if ours else path.startswith(str(tmp_path))
    assert not set(chosen) & set(replay.NOT_REPLAYED)


def test_self_tuning_entries_run_from_their_own_files(tmp_path):
    chosen = replay.self_tuning_sources(str(tmp_path))
    assert set(chosen) == set(replay.SELF_TUNING) - set(replay.SELF_TUNING_NOT_REPLAYED)
    for path, space, ours in chosen.values():
        assert path.startswith(str(tmp_path)) and path.endswith("submission.py")
        assert space is None and not ours


def test_an_entry_that_cannot_run_is_reported_and_too_few_have_no_ranking(tmp_path):
    chosen = replay.self_tuning_sources(str(tmp_path))
    name = next(iter(chosen))
    folder = replay.folder_of(str(tmp_path / "out"), chosen[name][0])
    os.makedirs(folder)
    with open(os.path.join(folder, replay.FAILED), "w") as f:
        f.write("its file needs a package\n")
    official = {n: v[0] for n, v in replay.SELF_TUNING.items()}
    part = replay._part(chosen, str(tmp_path / "out"), official, {"AdamG": "PyTorch only"})
    assert part["agreement"] is None and part["entries"] == {}
    assert part["could_not_run"] == {name: "its file needs a package"}
    lines = replay._table(part, official)
    assert any(name in line and "could not run here" in line for line in lines)
    assert any("AdamG" in line and "not replayed" in line for line in lines)
    assert "No rank agreement" in replay._agreement(None)
