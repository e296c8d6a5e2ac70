"""Presets of the speed benchmark (``make bench``), as ml_collections configs.

``get_config()`` ("full") measures every offline workload and times the main
job (about 17 minutes on a 2-core CPU); ``get_config("quick")`` measures one
small workload without the main job (about a minute)::

    python scripts/benchmark_speed.py
    python scripts/benchmark_speed.py --config=algoperf_lite/bench/config.py:quick
    python scripts/benchmark_speed.py --config.steps=100 --config.main_job=False
"""

import ml_collections

PRESETS = ("full", "quick")


def get_config(preset: str = "full") -> ml_collections.ConfigDict:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    config = ml_collections.ConfigDict()
    config.workloads = ()  # names; () is the offline suite
    config.steps = 300  # timed steps per run
    config.vmap_steps = 50  # timed steps per vmapped run
    config.sizes = (1, 4, 16)  # vmapped trials per step to measure
    config.main_job = True  # time a whole benchmark of a new submission (minutes)
    if preset == "quick":
        config.workloads = ("digits_logreg",)
        config.steps, config.vmap_steps, config.sizes = 40, 20, (1, 2)
        config.main_job = False
    return config
