import itertools

import numpy as np
import pandas as pd
import pytest

from algoperf_lite.analysis import landscapes as L


def grid(shape, seed=0, noise=0.8):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        list(itertools.product(*map(range, shape))), columns=list("abcd")[: len(shape)]
    )
    loss = sum(
        (frame[c] - s // 2) ** 2 / (i + 1)
        for i, (c, s) in enumerate(zip(frame, shape, strict=False))
    )
    return frame, loss.to_numpy(float) + rng.normal(0, noise, len(frame))


def test_hand_computed_line():
    # 1-D grid 0..4 with losses 3 1 2 0 4: optima at positions 1 and 3.
    land = L.Landscape.from_frame(pd.DataFrame({"x": [0, 1, 2, 3, 4]}), [3, 1, 2, 0, 4])
    assert sorted(L.local_optima(land)) == [1, 3]
    assert list(L.basins(land)) == [1, 1, 3, 3, 3]
    m = L.metrics(land)
    assert m["global_basin_share"] == pytest.approx(3 / 5)
    assert m["mean_basin_size"] == pytest.approx(2.5)
    # distance to best (position 3): 3 2 1 0 1 -> Spearman with losses 3 1 2 0 4
    assert m["fdc"] == pytest.approx(4 / np.sqrt(95))
    assert L.neutrality(land, epsilon=1.0) == pytest.approx(1 / 4)  # only the 1-2 edge


def test_categorical_axis_is_fully_connected():
    frame = pd.DataFrame({"opt": ["sgd", "adam", "rms"]})
    land = L.Landscape.from_frame(frame, [2.0, 1.0, 3.0], categorical=("opt",))
    assert land.edges().shape == (3, 2)  # every pair is one mismatch apart
    assert list(L.local_optima(land)) == [1]


def test_nonfinite_losses_become_the_worst():
    land = L.Landscape.from_frame(pd.DataFrame({"x": [0, 1, 2]}), [1.0, float("nan"), 2.0])
    assert land.loss[1] == 2.0


def test_smooth_bowl_is_unimodal_and_correlated():
    frame, loss = grid((6, 5, 4), noise=0.0)
    m = L.metrics(L.Landscape.from_frame(frame, loss))
    assert m["local_optima"] == 1 and m["global_basin_share"] == 1.0
    assert m["fdc"] > 0.8 and m["autocorrelation"] > 0.7 and m["assortativity"] > 0.7


def test_similarity():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    same = L.similarity(a, 3 * a + 1)
    assert same == {"spearman": pytest.approx(1.0), "top_jaccard": 1.0, "shake_up": 0.0}
    other = L.similarity(a, rng.normal(size=200))
    assert abs(other["spearman"]) < 0.2 and other["top_jaccard"] < 0.3
    assert other["shake_up"] == pytest.approx(1 / 3, abs=0.05)
    with pytest.raises(ValueError, match="differ in size"):
        L.similarity(a, a[:10])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_graphfla(seed):
    pytest.importorskip("graphfla")
    from graphfla.analysis import autocorrelation, fdc, neutrality
    from graphfla.landscape import OrdinalLandscape

    frame, loss = grid((5, 4, 3), seed=seed)
    ours = L.Landscape.from_frame(frame, loss)
    # graphfla is given fitness = -loss to maximize: with maximize=False its
    # best-improvement climb (0.4.0) takes the *least* improving neighbour.
    theirs = OrdinalLandscape().build_from_data(frame, pd.Series(-loss), verbose=False)
    assert len(L.local_optima(ours)) == theirs.n_lo
    assert L.fitness_distance_correlation(ours) == pytest.approx(-fdc(theirs))
    for eps in (0.1, 0.5, 1.0):
        assert L.neutrality(ours, eps) == pytest.approx(neutrality(theirs, eps))
    # Basin sizes per local optimum.
    sizes = theirs.basins.to_numpy()
    ends, counts = np.unique(L.basins(ours), return_counts=True)
    assert dict(zip(ends, counts, strict=False)) == {i: sizes[i] for i in ends}
    # Assortativity: igraph's on the undirected neighbour graph.
    g = theirs.graph.as_undirected()
    assert L.assortativity(ours) == pytest.approx(g.assortativity(list(loss), directed=False))
    # Random walks: different generators, the same expectation.
    ref = autocorrelation(theirs, walk_times=3000, seed=seed)
    assert L.autocorrelation(ours, walks=3000, seed=seed) == pytest.approx(ref, abs=0.05)
