import numpy as np
import pandas as pd
import pytest

from algoperf_lite.analysis import importance as im


def synthetic(n=300, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.uniform(0, 1, n),
            "noise1": rng.uniform(0, 1, n),
            "x2": rng.uniform(0, 1, n),
            "noise2": rng.integers(1, 10, n),
            "noise3": rng.uniform(0, 1, n),
        }
    )
    return frame, 2 * frame["x1"] + frame["x2"]


def test_ranks_a_known_function_and_ignores_irrelevant_columns():
    frame, y = synthetic()
    shares = im.nrrelieff(frame, y)
    assert list(shares.index[:2]) == ["x1", "x2"]
    assert shares["x1"] > 2 * shares["x2"] > 0.1
    assert shares[["noise1", "noise2", "noise3"]].max() < 0.02
    assert shares.sum() == pytest.approx(1.0)


def test_invariant_to_column_order_and_target_scale():
    frame, y = synthetic(seed=1)
    base = im.rrelieff_weights(frame, y)
    shuffled = im.rrelieff_weights(frame[frame.columns[::-1]], y)
    scaled = im.rrelieff_weights(frame, 1e3 * y - 7)
    pd.testing.assert_series_equal(base, shuffled[base.index], rtol=1e-9)
    pd.testing.assert_series_equal(base, scaled, rtol=1e-9)


def test_log_scaling_of_rate_like_columns():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"lr": 10 ** rng.uniform(-5, 0, 300), "x": rng.uniform(0, 1, 300)})
    y = np.log10(frame["lr"]) + 5 * frame["x"]
    logged = im.nrrelieff(frame, y, im.ReliefConfig(log_columns=("lr",)))
    assert logged.min() > 0.3
    # On a linear scale the lr values below 0.1 all look alike: no neighbour
    # structure is left, and no weight stays positive.
    assert im.nrrelieff(frame, y)["lr"] < 0.1
    with pytest.raises(ValueError, match="log-scaled"):
        im.nrrelieff(frame.assign(lr=frame["lr"] - 1), y, im.ReliefConfig(log_columns=("lr",)))


def test_categorical_columns():
    rng = np.random.default_rng(3)
    n = 200
    frame = pd.DataFrame(
        {
            "optimizer": rng.choice(["sgd", "adam", "rmsprop"], n),
            "junk": rng.choice(["a", "b", "c"], n),
            **{f"n{i}": rng.uniform(0, 1, n) for i in range(4)},
        }
    )
    y = np.where(frame["optimizer"] == "sgd", 1.0, 0.0) + rng.normal(0, 0.05, n)
    shares = im.nrrelieff(frame, y)
    assert shares.index[0] == "optimizer" and shares["junk"] < 0.05


def test_normalizations_and_config_errors():
    weights = pd.Series({"a": 0.3, "b": -0.1, "c": 0.1})
    assert im.normalize(weights, "clip").to_dict() == pytest.approx({"a": 0.75, "b": 0, "c": 0.25})
    assert im.normalize(weights, "shift").to_dict() == pytest.approx(
        {"a": 4 / 6, "b": 0, "c": 2 / 6}
    )
    assert im.normalize(weights, "none") is weights
    with pytest.raises(ValueError, match="normalization"):
        im.normalize(weights, "softmax")
    frame, y = synthetic(n=20)
    with pytest.raises(ValueError, match="19 target values for 20 rows"):
        im.rrelieff_weights(frame, y[:19])
    with pytest.raises(ValueError, match="weighting"):
        im.rrelieff_weights(frame, y, im.ReliefConfig(weighting="gaussian"))


def test_fanova_agrees_on_the_top_hyperparameter():
    frame, y = synthetic(n=120, seed=4)
    fanova = im.fanova(frame.assign(kind=np.where(frame["x1"] > 2, "a", "b")), y)
    assert fanova.index[0] == "x1" and fanova.sum() == pytest.approx(1.0)
    relief = im.nrrelieff(frame, y)
    agree = im.agreement(relief, fanova)
    assert agree["same_top"] and agree["spearman"] > 0.5
    assert im.agreement(relief, relief)["kendall_tau"] == pytest.approx(1.0)
