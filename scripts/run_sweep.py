"""Run (or resume) every sweep of the hyperparameter-lists study.

    python scripts/run_sweep.py        # what `make reproduce FROM_SCRATCH=1` runs first

Each sweep appends finished trials to results/sweeps/<name>.jsonl (a killed
run continues where it stopped) and writes the committed table
results/sweeps/<name>.csv.gz. See algoperf_lite/lists_study.py for the sweeps.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from algoperf_lite import lists_study  # noqa: E402
from workloads import WORKLOADS  # noqa: E402


def main():
    study = [WORKLOADS[n] for n in lists_study.STUDY_WORKLOADS]
    lists_study.run_all(os.path.join(ROOT, "results", "sweeps"), study)


if __name__ == "__main__":
    main()
