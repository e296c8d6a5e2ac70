"""One data-parallel trial across several processes (hosts) with jax.distributed.

Start the same command on every host (process 0's address is the coordinator):

    python scripts/multihost_trial.py --coordinator HOST0:1234 --num-processes 2 \
        --process-id 0 --workload mnist1d_mlp --submission nadamw --output runs/multihost
    python scripts/multihost_trial.py --coordinator HOST0:1234 --num-processes 2 \
        --process-id 1 --workload mnist1d_mlp --submission nadamw --output runs/multihost

On a TPU pod or under SLURM leave out the three process options: JAX finds them.
Every process holds the (small) data set; each step's batch is split over all
devices of all processes and the gradients are summed across them. Process 0
writes the trial folder and prints the result.
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coordinator", help="host:port of process 0")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--workload", required=True)
    parser.add_argument("--submission", required=True)
    parser.add_argument("--hparams", help="JSON object or file overriding the defaults")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--output", default=os.path.join("runs", "multihost"))
    args = parser.parse_args()
    # Before anything touches a device (importing the workloads may).
    jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    from algoperf_lite.core import io
    from algoperf_lite.core.spec import read_hparams
    from algoperf_lite.loading import load_submission
    from algoperf_lite.train import loop, program
    from workloads import get_workload

    workload, submission = get_workload(args.workload), load_submission(args.submission)
    lead = jax.process_index() == 0
    folder = io.trial_dir(args.output, workload.name, trial=1) if lead else None
    result = loop.run_trial(
        workload,
        submission,
        read_hparams(args.hparams),
        seed=args.seed,
        max_steps=args.max_steps,
        output_dir=folder,
        stop_at_target=False,
        mesh=program.data_mesh(jax.devices()),
    )
    losses = [row["train/loss"] for row in result.rows]
    if lead:
        print(result.summary())
        print(f"{jax.process_count()} processes, {jax.device_count()} devices; results in {folder}")
    print("train/loss " + json.dumps(losses))


if __name__ == "__main__":
    main()
