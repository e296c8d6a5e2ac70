"""Spread a sweep's trials over many machines with Ray (here: a local Ray).

    pip install -e '.[ray]'
    python scripts/ray_sweep.py --workload digits_logreg --submission nadamw \
        --points 8 --output runs/ray_sweep.jsonl            # a Ray on this machine
    python scripts/ray_sweep.py ... --address auto          # an existing Ray cluster

Each trial is one Ray task (``run_trial`` on whichever node has a free CPU, or
a GPU with ``--gpus-per-trial``); the driver appends each record as it
arrives, in the same JSON-lines format as ``sweeps.run_sweep``, so a killed
sweep resumes, and lists and analyses read the result unchanged.
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ray  # noqa: E402
from tqdm import tqdm  # noqa: E402

from algoperf_lite.tuning import (
    search_space,  # noqa: E402
    sweeps,  # noqa: E402
)


def trial(workload_name, submission_name, point_id, point, seed, max_steps=None):
    """One trial on a Ray worker; returns its sweep record."""
    sys.path.insert(0, ROOT)
    from algoperf_lite import run_trial
    from algoperf_lite.loading import load_submission
    from workloads import get_workload

    w = get_workload(workload_name)
    submission = load_submission(submission_name)
    result = run_trial(w, submission, point, seed=seed, max_steps=max_steps, stop_at_target=False)
    return sweeps.record(w, point_id, seed, result)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", required=True)
    parser.add_argument("--submission", required=True)
    parser.add_argument("--space", help="AlgoPerf JSON search space (default: the shipped one)")
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, help="shorten every trial (a quick look)")
    parser.add_argument("--output", required=True, help="sweep file (JSON lines)")
    parser.add_argument("--address", help="Ray cluster address (default: start one here)")
    parser.add_argument("--gpus-per-trial", type=float, default=0)
    args = parser.parse_args()
    space_file = args.space or os.path.join(
        ROOT, "submissions", "search_spaces", f"{args.submission}.json"
    )
    points = search_space.points(search_space.load(space_file), args.points, seed=args.seed)
    done = {r["point"] for r in sweeps.read_records(args.output) if r["workload"] == args.workload}
    ray.init(address=args.address, runtime_env={"env_vars": {"PYTHONPATH": ROOT}})
    remote = ray.remote(num_cpus=1, num_gpus=args.gpus_per_trial)(trial)
    pending = [
        remote.remote(args.workload, args.submission, i, p, args.seed, args.max_steps)
        for i, p in enumerate(points)
        if i not in done
    ]
    with sweeps.append(args.output) as f, tqdm(total=len(pending), unit="trial") as bar:
        while pending:
            ready, pending = ray.wait(pending)
            for rec in ray.get(ready):
                f.write(json.dumps(rec) + "\n")
                f.flush()
                bar.update()
    print(f"{len(sweeps.read_records(args.output))} records in {args.output}")


if __name__ == "__main__":
    main()
