"""Commands about the registry: ``workloads`` and ``data prepare``."""

from __future__ import annotations

import json
import os

from algoperf_lite.cli.args import Parser
from algoperf_lite.core.errors import UserError

# The registry's metadata, written by `algoperf-lite workloads --refresh` (a test
# checks it is current): listing the workloads then needs no JAX and no model.
CATALOG = "catalog.json"


def catalog_path() -> str:
    import importlib.util

    package = importlib.util.find_spec("workloads")  # locates it without importing it
    return os.path.join(os.path.dirname(package.origin), CATALOG)


def catalog_rows() -> list[dict]:
    """Every registered workload's metadata, as ``describe`` gives it, in suite order."""
    from workloads import SUITES, describe, suite

    return [describe(w) for name in SUITES for w in suite(name)]


def cmd_workloads(args) -> int:
    path = catalog_path()
    if args.refresh or not os.path.exists(path):
        from algoperf_lite.core import io

        io.write_json(path, catalog_rows())
    with open(path) as f:
        rows = [r for r in json.load(f) if r["suite"] == args.suite or not args.suite]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{'name':<29} {'suite':<8} {'metric':<26} {'target':>8} {'steps':>6} "
        f"{'params':>10} {'cpu s':>6}"
    )
    for r in rows:
        target = "-" if r["target"] is None else f"{r['target']:.4g}"
        target += "*" if r["target_provisional"] else ""
        cpu = "-" if r["cpu_seconds_to_target"] is None else f"{r['cpu_seconds_to_target']:.1f}"
        print(
            f"{r['name']:<29} {r['suite']:<8} {r['metric']:<26} {target:>8} "
            f"{r['step_hint']:>6} {r['parameters']:>10,} {cpu:>6}"
        )
    print("* provisional target (set without the data; see workloads/tfds_suite.py)")
    return 0


def cmd_data_prepare(args) -> int:
    import tensorflow_datasets as tfds

    from workloads import WORKLOADS, tfds_suite

    datasets = sorted(set(tfds_suite.DATASETS.values()))
    dataset = tfds_suite.DATASETS.get(args.name, args.name)
    if dataset not in datasets:
        bundled = args.name in WORKLOADS
        raise UserError(
            f"'{args.name}' "
            + ("uses bundled data and needs no preparing" if bundled else "is not a TFDS dataset")
            + f"; give a TFDS workload or one of: {', '.join(datasets)}"
        )
    builder = tfds.builder(dataset)
    print(f"downloading and preparing '{dataset}' under {builder.data_dir} (ArrayRecord)")
    builder.download_and_prepare(file_format="array_record")
    users = ", ".join(w for w, d in tfds_suite.DATASETS.items() if d == dataset)
    print(f"'{dataset}' is ready for: {users}")
    return 0


def add_commands(sub) -> None:
    """``workloads`` and ``data prepare``."""
    p = sub.add_parser("workloads", help="list the registered workloads")
    p.add_argument("--json", action="store_true", help="print a JSON list with all metadata")
    p.add_argument("--suite", choices=["offline", "variants", "tfds"], help="only this suite")
    p.add_argument(
        "--refresh", action="store_true", help="rebuild the cached metadata from the registry"
    )
    p.set_defaults(func=cmd_workloads)

    p = sub.add_parser("data", help="prepare the datasets of TFDS workloads")
    data_sub = p.add_subparsers(dest="data_command", required=True, parser_class=Parser)
    q = data_sub.add_parser("prepare", help="download and prepare one workload's dataset")
    q.add_argument("name", help="a TFDS workload (e.g. mnist_mlp) or its dataset (e.g. mnist)")
    q.set_defaults(func=cmd_data_prepare)
