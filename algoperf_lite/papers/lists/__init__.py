"""Pre-computed hyperparameter lists for NAdamW (Medapati et al., 2025), in
small: ``study`` (settings, sweeps, analysis) and ``tables`` (the report)."""

from __future__ import annotations

import os

import ml_collections

from algoperf_lite.papers.lists import study, tables


# The papers' protocol (see algoperf_lite.papers).
def get_config() -> ml_collections.ConfigDict:
    """Pre-computed hyperparameter lists for NAdamW (Medapati et al., 2025): its broad space swept
    on the offline and variant workloads, lists built greedily and held out.

    Tables and plot from the committed sweeps (about 20 s):
        python scripts/reproduce.py --paper lists
    Rerun (resume) the sweeps first (about 100 min on 2 CPU cores):
        python scripts/reproduce.py --rerun lists --lists.num_points=32
    """
    config = ml_collections.ConfigDict()
    config.suites = study.SUITES
    config.sweeps = "sweeps"  # folder under the results folder
    config.num_points = study.NUM_POINTS
    config.tpe_trials = study.LENGTH
    return config


def run(config: ml_collections.ConfigDict, results: str) -> None:
    """The sweeps behind the tables, resumable."""
    from workloads import suite

    study.run_all(
        os.path.join(results, config.sweeps),
        [w for name in config.suites for w in suite(name)],
        num_points=config.num_points,
        tpe_trials=config.tpe_trials,
    )


def report(config: ml_collections.ConfigDict, results: str) -> list[str]:
    """The tables from the committed sweeps."""
    from workloads import WORKLOADS

    return tables.write(study.evaluate(os.path.join(results, config.sweeps), WORKLOADS), results)
