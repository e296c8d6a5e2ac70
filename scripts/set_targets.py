"""(Re)set workload targets and step budgets by AlgoPerf's procedure.

    python scripts/set_targets.py                      # every offline and variant workload
    python scripts/set_targets.py --workload digits_cnn

Writes workloads/targets.json (read by the registry) after each workload, and
appends every run to results/target_setting/<workload>.jsonl, so a killed run
resumes where it stopped. The procedure is in algoperf_lite/tuning/targets.py; how
long it took on a 2-core CPU is in the README's "Targets" section.
"""

import argparse
import fcntl
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from algoperf_lite.core import io  # noqa: E402
from algoperf_lite.core.errors import UserError  # noqa: E402
from algoperf_lite.tuning.targets import set_target  # noqa: E402
from workloads import DECLARED, TARGETS_FILE  # noqa: E402

JOURNALS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results", "target_setting"
)


def save(name: str, entry: dict) -> None:
    """Merge one workload's entry into targets.json; a lock lets several runs share it."""
    with open(TARGETS_FILE + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        targets = io.read_json(TARGETS_FILE) if os.path.exists(TARGETS_FILE) else {}
        targets[name] = entry
        io.write_json(TARGETS_FILE, targets)


# Baseline submission -> the reference optimizer whose searches its list comes from.
BASELINE_LISTS = {"nadamw": "nadamw", "adamw": "adamw", "sgd": "nesterov"}


def write_baseline_lists() -> None:
    """Each baseline's shipped search space: a 5-point list built from its optimizer's
    target-setting searches on the offline workloads (see targets.baseline_list)."""
    from algoperf_lite.tuning.search_space import SPACES_DIR
    from algoperf_lite.tuning.targets import baseline_list

    offline = [n for n, w in DECLARED.items() if w.offline and w.variant_of is None]
    journals = {n: os.path.join(JOURNALS, f"{n}.jsonl") for n in offline}
    for submission, optimizer in BASELINE_LISTS.items():
        points = baseline_list(journals, DECLARED, optimizer)
        path = os.path.join(SPACES_DIR, f"{submission}.json")
        with open(path, "w") as f:
            json.dump(points, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"wrote {os.path.relpath(path)} ({len(points)} points from {optimizer}'s searches)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workload", action="append", help="repeatable; default: offline and variants"
    )
    parser.add_argument("--trials", type=int, help="per optimizer (default 64; 32 on variants)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument(
        "--trials-per-step", type=int, help="vmapped lanes (default: where it pays)"
    )
    parser.add_argument(
        "--baseline-lists",
        action="store_true",
        help="instead: write the baselines' 5-point lists from the offline searches' journals",
    )
    args = parser.parse_args()
    if args.baseline_lists:
        write_baseline_lists()
        return
    names = args.workload or [n for n, w in DECLARED.items() if w.offline]
    unknown = [n for n in names if n not in DECLARED]
    if unknown:
        raise UserError(f"unknown workload '{unknown[0]}'; known: {', '.join(DECLARED)}")
    for name in names:
        workload = DECLARED[name]
        trials = args.trials or (32 if workload.variant_of else 64)
        journal = os.path.join(JOURNALS, f"{name}.jsonl")
        entry = set_target(
            workload, journal, trials=trials, seeds=args.seeds, trials_per_step=args.trials_per_step
        )
        save(name, entry)
        check = entry["provenance"]["check"]
        summary = {k: entry[k] for k in ("validation_target", "test_target", "step_hint")}
        print(name, json.dumps(summary), f"check {check['reached']}/{check['of']}", flush=True)


if __name__ == "__main__":
    try:
        main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
