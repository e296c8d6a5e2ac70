"""Regenerate every results table and figure on the offline default suite.

    python scripts/reproduce.py [--seeds=3] [--from_scratch] [--rerun=NAME]
        [--paper=NAME] [--NAME.field=value]

Always: results/baseline.md (reference NAdamW, fresh runs, about a minute),
results/targets.md, and each paper's tables and figures from its committed
runs or sweeps (``algoperf_lite.papers.PAPERS``; seconds to half a minute
each; ``--paper=NAME``, repeatable, writes only those and nothing else), then
results/baselines.md + baselines_profile.png (scoring the committed baseline
experiments). With ``--rerun=NAME`` (repeatable), first reruns (resumes) that
paper's runs; with ``--from_scratch``, every paper's and the baseline
experiments (see the README for how long that takes). A paper's settings are
an ml_collections ConfigDict (its ``get_config``): ``--NAME.field=value``
overrides one, e.g. ``--rerun=integrators --integrators.seeds=0,1``.
"""

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import flags
from ml_collections import config_flags

from algoperf_lite.analysis import scoring
from algoperf_lite.cli import script_flags
from algoperf_lite.core import compiles, io
from algoperf_lite.papers import PAPERS, get_paper
from algoperf_lite.tuning import reports
from workloads import WORKLOADS, suite

FLAGS = flags.FLAGS
flags.DEFINE_integer("seeds", 3, "seeds of the fresh baseline runs")
flags.DEFINE_string("results", os.path.join(ROOT, "results"), "the results folder")
flags.DEFINE_bool("from_scratch", False, "rerun every paper's runs and the baselines first")
flags.DEFINE_bool("baseline_only", False, "stop after results/baseline.md")
flags.DEFINE_multi_enum("rerun", [], list(PAPERS), "rerun (resume) this paper's runs first")
flags.DEFINE_multi_enum("paper", [], list(PAPERS), "write only this paper's tables, no baselines")


def define_configs(argv) -> dict:
    """Each paper's config flag (its ``get_config`` with the overrides in ``argv``)."""
    return {
        name: config_flags.DEFINE_config_dict(
            name, get_paper(name).get_config(), f"{name}'s settings", sys_argv=argv
        )
        for name in PAPERS
    }


def rerun(names, configs: dict, results: str) -> None:
    for name in names:
        tic = time.perf_counter()
        get_paper(name).run(configs[name], results)
        print(f"{name}: {time.perf_counter() - tic:.0f}s")


def write_papers(names, configs: dict, results: str) -> None:
    for name in names:
        for path in get_paper(name).report(configs[name], results):
            print("wrote", os.path.relpath(path, ROOT))


def main(argv=None):
    argv = sys.argv if argv is None else argv
    configs = {
        n: f.value for n, f in script_flags.parse("reproduce.py", argv, define_configs).items()
    }
    compiles.use_persistent_cache()
    results = FLAGS.results
    baselines_dir = os.path.join(results, "baselines")
    os.makedirs(results, exist_ok=True)
    rerun(list(PAPERS) if FLAGS.from_scratch else FLAGS.rerun, configs, results)
    if FLAGS.from_scratch:
        reports.run_baselines(baselines_dir)
    if FLAGS.paper:  # only these papers' tables
        write_papers(FLAGS.paper, configs, results)
        return

    io.write_atomic(
        os.path.join(results, "targets.md"),
        reports.targets_markdown([w for w in WORKLOADS.values() if w.offline]),
    )
    report = reports.baseline(suite("offline"), seeds=FLAGS.seeds)
    io.write_json(os.path.join(results, "baseline.json"), report)
    io.write_atomic(os.path.join(results, "baseline.md"), reports.baseline_markdown(report))
    print(reports.baseline_markdown(report))
    if FLAGS.baseline_only:
        return

    write_papers(list(PAPERS), configs, results)

    experiments = {n: os.path.join(baselines_dir, n) for n in reports.BASELINES}
    scored = scoring.score({n: p for n, p in experiments.items() if os.path.isdir(p)})
    io.write_atomic(os.path.join(results, "baselines.md"), reports.baselines_markdown(scored))
    scoring.plot_profiles(scored, os.path.join(results, "baselines_profile.png"))
    print(reports.baselines_markdown(scored))


if __name__ == "__main__":
    main()
