"""The hypergradient study's report: built from its committed runs, and its verdict logic."""

import math
import os

from algoperf_lite import hypergradient_study as study

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "results", study.DATA_FILE)


def test_committed_runs_cover_the_plan():
    runs = study.load(DATA)
    done = {(r["problem"], r["method"], r["alpha0"], r["seed"]) for r in runs}
    assert done == set(study.plan())
    for r in runs:  # a base method is its HD variant with beta = 0: alpha stays put
        if not r["method"].endswith("-HD") and r["curve"]:
            assert {round(a / r["alpha0"], 5) for _, a, _, _ in r["curve"]} == {1.0}


def test_report_regenerates_with_paper_numbers_and_directions(tmp_path):
    paths = study.write(study.load(DATA), str(tmp_path))
    text = open(paths[0]).read()
    assert "| logreg | ours (`digits_logreg`)" in text and "0.396 / 0.374" in text
    assert "Does the paper's direction hold here?" in text
    assert all(os.path.getsize(p) > 10_000 for p in paths[1:])  # two figures


def _finals(hd_factor):
    finals = {}
    for p in study.PROBLEMS:
        for base in ("SGD", "SGDN", "Adam"):
            finals[(p, base)] = (1.0, 1.0)
            finals[(p, base + "-HD")] = (hd_factor, hd_factor)
    return finals


def test_direction_check_flags_a_worse_hd():
    assert all(d["ours"] for d in study.directions(_finals(1.005)))  # within tolerance
    assert not any(d["ours"] for d in study.directions(_finals(1.5)))
    assert not any(d["ours"] for d in study.directions(_finals(math.inf)))  # diverged


def test_tfds_problems_run_through_their_real_pipeline(tmp_path):
    import dataclasses

    import tensorflow_datasets as tfds

    from workloads import WORKLOADS

    # VGG-16's compile is slow on a CPU; its pipeline is covered by the TFDS tests.
    problems = ("logreg", "mlp")
    small = {}
    for name in (study.TFDS_PROBLEMS[p] for p in problems):
        w = WORKLOADS[name]
        with tfds.testing.mock_data(num_examples=64):
            splits = w.load_splits.__wrapped__()  # bypass the registry's cache
        small[name] = dataclasses.replace(
            w, load_splits=lambda s=splits: s, batch_size=8, step_hint=4, eval_every=2
        )
    runs = [
        study._run(p, m, study.ALPHA_0, 0, small, study.TFDS_PROBLEMS)
        for p in problems
        for m in ("SGD-HD", "Adam")
    ]
    assert [r["workload"] for r in runs[::2]] == ["mnist_logreg", "mnist_mlp"]
    for r in runs:
        assert len(r["curve"]) == 2 and all(math.isfinite(v) for v in r["curve"][-1])
    # The report names the workloads its runs used.
    renamed = [{**r, "workload": study.TFDS_PROBLEMS[r["problem"]]} for r in study.load(DATA)]
    text = study.markdown(renamed)
    assert "| logreg | ours (`mnist_logreg`)" in text and "cnn = `cifar10_vgg16`" in text
