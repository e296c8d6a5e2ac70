"""Regenerate every results table and figure on the offline default suite.

    python scripts/reproduce.py [--seeds 3] [--from-scratch]

Always: results/baseline.md (reference NAdamW, fresh runs, about a minute),
results/lists.md + lists_heldout.png + lists/*.json (from the committed sweeps
on the twelve offline and variant workloads, seconds), results/integrators.md
+ integrators.png (from the committed integrator runs, seconds),
results/hypergradient.md + hypergradient_*.png
(from the committed runs, seconds), results/importance.md + importance.png
(CNN hyperparameter importance, from the committed sweep, about half a
minute), results/landscapes.md + landscapes_*.png (from the committed grid
sweep, seconds), results/baselines.md +
baselines_profile.png (scoring the committed baseline experiments). With
--rerun NAME, first reruns (resumes) one study: lists, integrators or
hypergradient. With --from-scratch, first reruns the sweeps (CNN and landscape sweeps included),
the integrator and hypergradient runs and the baseline experiments (see
README for how long that takes).
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from algoperf_lite import (  # noqa: E402
    compiles,
    hypergradient_study,
    importance_study,
    integrators_study,
    io,
    landscape_study,
    lists_study,
    reports,
    scoring,
)
from workloads import WORKLOADS, suite  # noqa: E402

PAPER_STUDIES = {"integrators": integrators_study, "hypergradient": hypergradient_study}


def lists_workloads() -> list:
    return [w for name in lists_study.SUITES for w in suite(name)]


def rerun(name: str, results: str, offline: list) -> None:
    """Run (or resume from its journal) one paper study on the offline suite."""
    tic = time.perf_counter()
    if name == "lists":  # the sweeps behind lists.md, on the offline and variant workloads
        lists_study.run_all(os.path.join(results, "sweeps"), lists_workloads())
        print(f"{name}: {time.perf_counter() - tic:.0f}s")
        return
    module = PAPER_STUDIES[name]
    module.run_all(offline, os.path.join(results, module.DATA_FILE))
    if name == "hypergradient" and module.tfds_ready():  # the paper's own problems
        tfds = [WORKLOADS[w] for w in module.TFDS_PROBLEMS.values()]
        module.run_all(tfds, os.path.join(results, module.TFDS_DATA_FILE))
    print(f"{name}: {time.perf_counter() - tic:.0f}s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--results", default=os.path.join(ROOT, "results"))
    parser.add_argument("--from-scratch", action="store_true", help="rerun sweeps and baselines")
    parser.add_argument(
        "--baseline-only", action="store_true", help="only the fresh reference runs (baseline.md)"
    )
    parser.add_argument(
        "--rerun",
        action="append",
        default=[],
        choices=["lists", *PAPER_STUDIES],
        help="rerun (resume) this paper study before the reports; repeatable",
    )
    args = parser.parse_args()
    compiles.use_persistent_cache()
    results = args.results
    sweeps_dir = os.path.join(results, "sweeps")
    baselines_dir = os.path.join(results, "baselines")
    offline = suite("offline")
    os.makedirs(results, exist_ok=True)
    for name in args.rerun:
        if not args.from_scratch:
            rerun(name, results, offline)

    if args.from_scratch:
        tic = time.perf_counter()
        for name in ("lists", *PAPER_STUDIES):
            rerun(name, results, offline)
        importance_study.run_all(os.path.join(sweeps_dir, importance_study.SWEEP_FILE))
        landscape_study.run_all(os.path.join(sweeps_dir, landscape_study.SWEEP_FILE), WORKLOADS)
        reports.run_baselines(baselines_dir)
        print(f"sweeps and baselines: {time.perf_counter() - tic:.0f}s")

    io.write_atomic(
        os.path.join(results, "targets.md"),
        reports.targets_markdown([w for w in WORKLOADS.values() if w.offline]),
    )
    report = reports.baseline(offline, seeds=args.seeds)
    io.write_json(os.path.join(results, "baseline.json"), report)
    io.write_atomic(os.path.join(results, "baseline.md"), reports.baseline_markdown(report))
    print(reports.baseline_markdown(report))
    if args.baseline_only:
        return

    study = lists_study.evaluate(sweeps_dir, WORKLOADS)
    for path in lists_study.write(study, results):
        print("wrote", os.path.relpath(path, ROOT))

    for module in PAPER_STUDIES.values():
        runs = module.load(os.path.join(results, module.DATA_FILE))
        for path in module.write(runs, results):
            print("wrote", os.path.relpath(path, ROOT))
    tfds_runs = os.path.join(results, hypergradient_study.TFDS_DATA_FILE)
    if os.path.exists(tfds_runs):
        runs = hypergradient_study.load(tfds_runs)
        problems = hypergradient_study.TFDS_PROBLEMS
        for path in hypergradient_study.write(runs, results, "hypergradient_tfds", problems):
            print("wrote", os.path.relpath(path, ROOT))
    for module in (importance_study, landscape_study):
        for path in module.write(results):
            print("wrote", os.path.relpath(path, ROOT))

    experiments = {n: os.path.join(baselines_dir, n) for n in reports.BASELINES}
    scored = scoring.score({n: p for n, p in experiments.items() if os.path.isdir(p)})
    io.write_atomic(os.path.join(results, "baselines.md"), reports.baselines_markdown(scored))
    scoring.plot_profiles(scored, os.path.join(results, "baselines_profile.png"))
    print(reports.baselines_markdown(scored))


if __name__ == "__main__":
    main()
