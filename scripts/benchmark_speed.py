"""Speed benchmark: our runner against a hand-written loop and an AlgoPerf-style loop.

    python scripts/benchmark_speed.py [--workload NAME ...] [--steps 300]
        [--output results/speed.md]

Measures, in one run on this machine, each offline workload's steps per second
under the three loops, compile time, compilations over a 5-trial study, K
vmapped trials (K in 1, 4, 16) against one at a time, and memory; writes the
table with the machine and versions (and the raw numbers as JSON beside it).
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tqdm import tqdm  # noqa: E402

from algoperf_lite.bench import speed, speed_report  # noqa: E402
from algoperf_lite.core import io  # noqa: E402
from algoperf_lite.loading import load_submission  # noqa: E402
from workloads import get_workload, suite  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", action="append", help="repeatable; default: offline suite")
    parser.add_argument("--steps", type=int, default=300, help="timed steps per run")
    parser.add_argument("--vmap-steps", type=int, default=50, help="timed steps per vmap run")
    parser.add_argument("--sizes", default="1,4,16", help="vmapped trials per step to measure")
    parser.add_argument("--output", default=os.path.join(ROOT, "results", "speed.md"))
    parser.add_argument(
        "--rewrite", action="store_true", help="only rewrite the table from the JSON beside it"
    )
    parser.add_argument(
        "--no-main-job", action="store_true", help="skip timing a whole benchmark (minutes)"
    )
    args = parser.parse_args()
    raw = os.path.splitext(args.output)[0] + ".json"
    if args.rewrite:
        with open(args.output, "w") as f:
            f.write(speed_report.markdown(io.read_json(raw)))
        return
    workloads = [get_workload(n) for n in args.workload] if args.workload else suite("offline")
    sizes = tuple(int(k) for k in args.sizes.split(","))
    submission = load_submission("nadamw")
    rows = {}
    for w in tqdm(workloads, desc="speed benchmark", unit="workload"):
        rows[w.name] = speed.measure(w, submission, args.steps, args.vmap_steps, sizes)
        tqdm.write(f"{w.name}: {json.dumps(rows[w.name]['rates'])}")
    report = {
        "machine": io.machine_details(),
        "memory": speed.peak_memory(),
        "workloads": rows,
        "cli": speed.cli_seconds(),
    }
    if not args.no_main_job:
        print("timing the main job: benchmark of a new submission on the offline suite")
        report["main_job"] = speed.main_job()
    io.write_json(raw, report)
    with open(args.output, "w") as f:
        f.write(speed_report.markdown(report))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
