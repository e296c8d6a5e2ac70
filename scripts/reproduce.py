"""Regenerate every results table from scratch on the offline default suite.

    python scripts/reproduce.py [--seeds 3]      # what `make reproduce` runs

Writes results/baseline.md (and baseline.json with the raw numbers).
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from algoperf_lite import io, reports  # noqa: E402
from workloads import WORKLOADS  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--results", default=os.path.join(ROOT, "results"))
    args = parser.parse_args()
    os.makedirs(args.results, exist_ok=True)
    offline = [w for w in WORKLOADS.values() if w.offline]
    report = reports.baseline(offline, seeds=args.seeds)
    io.write_json(os.path.join(args.results, "baseline.json"), report)
    io.write_atomic(os.path.join(args.results, "baseline.md"), reports.baseline_markdown(report))
    print(reports.baseline_markdown(report))


if __name__ == "__main__":
    main()
