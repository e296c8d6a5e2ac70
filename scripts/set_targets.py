"""(Re)set workload targets and step budgets by the documented procedure.

    python scripts/set_targets.py                      # every offline workload
    python scripts/set_targets.py --workload digits_cnn

Writes workloads/targets.json (read by the registry). About 5 minutes for all
three foundation workloads on a 2-core CPU.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from algoperf_lite import io  # noqa: E402
from algoperf_lite.targets import set_target  # noqa: E402
from workloads import TARGETS_FILE, WORKLOADS, get_workload  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", action="append", help="repeatable; default: all offline")
    parser.add_argument("--points", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    names = args.workload or [n for n, w in WORKLOADS.items() if w.offline]
    targets = io.read_json(TARGETS_FILE) if os.path.exists(TARGETS_FILE) else {}
    for name in names:
        entry = set_target(get_workload(name), num_points=args.points, seeds=args.seeds)
        targets[name] = entry
        io.write_json(TARGETS_FILE, targets)  # after each workload: nothing is lost
        summary = {k: entry[k] for k in ("validation_target", "test_target", "step_hint")}
        print(name, json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
