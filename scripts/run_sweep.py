"""Run the broad NAdamW sweep over the offline suite and store it compactly.

    python scripts/run_sweep.py [--points 128] [--seed 0]

Appends finished trials to results/sweeps/nadamw_broad.jsonl (resumable: a
killed run continues where it stopped) and writes the committed table
results/sweeps/nadamw_broad.csv.gz. About 25 minutes on a 2-core CPU.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from algoperf_lite import search_space, sweeps  # noqa: E402
from algoperf_lite.spec import load_submission  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

SWEEPS = os.path.join(ROOT, "results", "sweeps")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0, help="Halton seed (training seed 0)")
    args = parser.parse_args()
    space = search_space.load(os.path.join(SWEEPS, "nadamw_broad_space.json"))
    points = search_space.points(space, args.points, seed=args.seed)
    offline = [w for w in WORKLOADS.values() if w.offline]
    records = sweeps.run_sweep(
        offline, load_submission("nadamw"), points, os.path.join(SWEEPS, "nadamw_broad.jsonl")
    )
    sweeps.compact(records, os.path.join(SWEEPS, "nadamw_broad.csv.gz"))
    print(f"{len(records)} trials in results/sweeps/nadamw_broad.csv.gz")


if __name__ == "__main__":
    main()
