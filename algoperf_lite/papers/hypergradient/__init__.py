"""Hypergradient descent (Baydin et al., 2018), in small: ``study`` (settings,
runs, claims) and ``tables`` (the report)."""

from __future__ import annotations

import os

import ml_collections

from algoperf_lite.papers.hypergradient import study, tables


# The papers' protocol (see algoperf_lite.papers).
def get_config() -> ml_collections.ConfigDict:
    """Hypergradient descent (Baydin et al., 2018): HD against its base methods
    on the offline stand-ins, and on the paper's own problems where their
    TFDS data is prepared.

    Tables and plots from the committed runs (seconds):
        python scripts/reproduce.py --paper hypergradient
    Rerun (resume) the runs first (about 60 min on 2 CPU cores):
        python scripts/reproduce.py --rerun hypergradient --hypergradient.seeds=0,1
    """
    config = ml_collections.ConfigDict()
    config.suite = "offline"
    config.data_file = study.DATA_FILE
    config.tfds_data_file = study.TFDS_DATA_FILE
    config.methods = tuple(study.METHODS)
    config.seeds = study.SEEDS
    config.lanes = study.LANES
    return config


def run(config: ml_collections.ConfigDict, results: str) -> None:
    """The runs behind the tables, resumable from their journals."""
    from workloads import WORKLOADS, suite

    study.run_all(suite(config.suite), os.path.join(results, config.data_file), config)
    if study.tfds_ready():
        tfds = [WORKLOADS[w] for w in study.TFDS_PROBLEMS.values()]
        study.run_all(tfds, os.path.join(results, config.tfds_data_file), config)


def report(config: ml_collections.ConfigDict, results: str) -> list[str]:
    paths = tables.write(study.load(os.path.join(results, config.data_file)), results)
    tfds_runs = os.path.join(results, config.tfds_data_file)
    if os.path.exists(tfds_runs):
        paths += tables.write(
            study.load(tfds_runs), results, "hypergradient_tfds", study.TFDS_PROBLEMS
        )
    return paths
