"""Train the CNN family of the importance study on chosen datasets.

    python scripts/importance_sweep.py [--datasets digits,mnist1d,shapes]
        [--models 120] [--shard I/N] [--output results/sweeps/cnn_importance.jsonl]

Resumable: trials already in the output are skipped. ``--shard I/N`` runs every
N-th model from the I-th, for N processes sharing one file. TFDS datasets
(mnist, fashion_mnist, cifar10) need 'algoperf-lite data prepare NAME' first;
on a CPU they take about ten times longer per model than the offline ones.
Then rebuild the report with 'make reproduce' or importance_study.write.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from algoperf_lite.papers import importance_study  # noqa: E402
from workloads import cnn_family  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(cnn_family.DATASETS))
    parser.add_argument("--models", type=int, default=importance_study.NUM_MODELS)
    parser.add_argument("--shard", default="0/1")
    default = os.path.join(ROOT, "results", "sweeps", importance_study.SWEEP_FILE)
    parser.add_argument("--output", default=default)
    args = parser.parse_args()
    datasets = args.datasets.split(",")
    known = (*cnn_family.DATASETS, *cnn_family.TFDS_DATASETS)
    unknown = [d for d in datasets if d not in known]
    if unknown:
        parser.error(f"unknown dataset '{unknown[0]}'; choose from {', '.join(known)}")
    index, count = (int(v) for v in args.shard.split("/"))
    importance_study.run_all(args.output, datasets, args.models, shard=(index, count))


if __name__ == "__main__":
    main()
