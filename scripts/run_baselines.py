"""Rerun the committed baselines (external tuning, shipped search spaces) on the
offline suite into results/baselines/; resumes where a kill left it.

    python scripts/run_baselines.py                        # every baseline in reports.BASELINES
    python scripts/run_baselines.py --submission plain_sgd
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from algoperf_lite.tuning import reports  # noqa: E402
from workloads import get_workload  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", action="append", choices=list(reports.BASELINES))
    parser.add_argument("--workload", action="append", help="repeatable; default: offline suite")
    parser.add_argument("--output", default=os.path.join(ROOT, "results", "baselines"))
    args = parser.parse_args()
    chosen = [get_workload(n) for n in args.workload] if args.workload else None
    reports.run_baselines(args.output, args.submission or tuple(reports.BASELINES), chosen)


if __name__ == "__main__":
    main()
