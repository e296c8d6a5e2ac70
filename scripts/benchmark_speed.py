"""Speed benchmark: our runner against a hand-written and an AlgoPerf-style loop.

    python scripts/benchmark_speed.py [--config=algoperf_lite/bench/config.py[:quick]]
        [--config.steps=300 ...] [--output=results/speed.md] [--rewrite]

Measures, in one run on this machine, each workload's steps per second under
the three loops, compile time, compilations over a 5-trial study, K vmapped
trials against one at a time, memory, the command line's answer times and the
main job; writes the table with the machine and versions (and the raw numbers
as JSON beside it). The settings are a preset of ``algoperf_lite/bench/config.py``
with ``--config.field=value`` overrides.
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import flags
from ml_collections import config_flags
from tqdm import tqdm

from algoperf_lite.bench import speed, speed_report
from algoperf_lite.cli import script_flags
from algoperf_lite.core import io
from algoperf_lite.core.errors import UserError
from algoperf_lite.loading import load_submission
from workloads import get_workload, suite

FLAGS = flags.FLAGS
flags.DEFINE_string("output", os.path.join(ROOT, "results", "speed.md"), "the table to write")
flags.DEFINE_bool("rewrite", False, "only rewrite the table from the JSON beside it")
PRESETS = os.path.join(ROOT, "algoperf_lite", "bench", "config.py")


def define_config(argv):
    return config_flags.DEFINE_config_file("config", PRESETS, "a benchmark preset", sys_argv=argv)


def main(argv) -> None:
    config = script_flags.parse("benchmark_speed.py", argv, define_config).value
    raw = os.path.splitext(FLAGS.output)[0] + ".json"
    try:  # before minutes of measuring, not after
        io.ensure_writable(os.path.dirname(os.path.abspath(FLAGS.output)))
    except UserError as e:
        print(f"benchmark_speed.py: {e}", file=sys.stderr)
        sys.exit(2)
    if FLAGS.rewrite:
        with open(FLAGS.output, "w") as f:
            f.write(speed_report.markdown(io.read_json(raw)))
        return
    workloads = [get_workload(n) for n in config.workloads] or suite("offline")
    submission = load_submission("nadamw")
    rows = {}
    for w in tqdm(workloads, desc="speed benchmark", unit="workload"):
        rows[w.name] = speed.measure(
            w, submission, config.steps, config.vmap_steps, tuple(config.sizes)
        )
        tqdm.write(f"{w.name}: {json.dumps(rows[w.name]['rates'])}")
    report = {
        "machine": io.machine_details(),
        "memory": speed.peak_memory(),
        "workloads": rows,
        "cli": speed.cli_seconds(),
    }
    if config.main_job:
        print("timing the main job: benchmark of a new submission on the offline suite")
        report["main_job"] = speed.main_job()
    io.write_json(raw, report)
    with open(FLAGS.output, "w") as f:
        f.write(speed_report.markdown(report))
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    main(sys.argv)
