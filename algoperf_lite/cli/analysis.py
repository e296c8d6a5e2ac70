"""Commands that read sweeps: ``lists build|evaluate`` and ``analyze importance|landscape``."""

from __future__ import annotations

import json
import os

from algoperf_lite.cli.args import Parser, positive
from algoperf_lite.core.errors import UserError


def _sweep_steps(path):
    from algoperf_lite.analysis import lists
    from algoperf_lite.tuning import sweeps
    from workloads import WORKLOADS

    if not os.path.isfile(path):
        raise UserError(f"sweep table not found: {path}; pass a .csv.gz written by a sweep")
    try:
        frame = sweeps.load(path)
    except Exception as e:  # pandas raises many types for a bad file
        raise UserError(f"cannot read sweep table {path}: {type(e).__name__}") from None
    missing = {"workload", "point", "seed", "global_step", "value"} - set(frame.columns)
    if missing:
        raise UserError(f"{path} is not a sweep table (no '{sorted(missing)[0]}' column)")
    return frame, lists.steps_table(frame, WORKLOADS)


def cmd_lists_build(args) -> int:
    from algoperf_lite.analysis import lists
    from algoperf_lite.core import io

    frame, steps = _sweep_steps(args.sweep)
    points = [lists.hparams_of(frame, p) for p in lists.build(steps, args.length)]
    if args.output:
        io.write_json(args.output, points)
        print(f"{len(points)}-point list over {', '.join(steps.columns)} written to {args.output}")
    else:
        print(json.dumps(points, indent=2))
    return 0


def cmd_lists_evaluate(args) -> int:
    from algoperf_lite.papers.lists import study, tables
    from workloads import WORKLOADS

    folder = args.sweep_dir
    needed = [
        "nadamw_broad.csv.gz",
        "nadamw_grid.csv.gz",
        "nadamw_algoperf_list.csv.gz",
        "nadamw_tpe.csv.gz",
    ]
    absent = [n for n in needed if not os.path.isfile(os.path.join(folder, n))]
    if absent:
        raise UserError(f"{folder} lacks {absent[0]}; run 'make reproduce FROM_SCRATCH=1' first")
    result = study.evaluate(folder, WORKLOADS)
    print(tables.markdown(result))
    return 0


def _sweep_finals(args):
    """Last evaluation per trial of a sweep table, optionally one workload only."""
    from algoperf_lite.tuning import sweeps

    if not os.path.isfile(args.sweep):
        raise UserError(f"sweep table not found: {args.sweep}; pass a .csv.gz or .jsonl sweep")
    try:
        if args.sweep.endswith(".jsonl"):
            frame = sweeps.to_frame(sweeps.read_records(args.sweep))
        else:
            frame = sweeps.load(args.sweep)
    except Exception as e:  # pandas raises many types for a bad file
        raise UserError(f"cannot read sweep table {args.sweep}: {type(e).__name__}") from None
    missing = {"workload", "point", "seed", "global_step"} - set(frame.columns)
    if missing or not any(c.startswith("hp/") for c in frame.columns):
        raise UserError(f"{args.sweep} is not a sweep table (no hyperparameter columns)")
    finals = sweeps.finals(frame)
    if args.workload:
        known = sorted(finals["workload"].unique())
        if args.workload not in known:
            raise UserError(
                f"workload '{args.workload}' is not in the sweep; it has {', '.join(known)}"
            )
        finals = finals[finals["workload"] == args.workload]
    return finals


def _varying_hparams(group):
    """The hyperparameter columns that take more than one value (names without hp/)."""
    cols = [c for c in group.columns if c.startswith("hp/") and group[c].nunique() > 1]
    return group[cols].set_axis([c[3:] for c in cols], axis=1)


def cmd_analyze_importance(args) -> int:
    import pandas as pd

    from algoperf_lite.analysis import importance

    finals = _sweep_finals(args)
    out = {}
    for workload, group in finals.groupby("workload"):
        frame = _varying_hparams(group)
        numeric = frame.select_dtypes("number")
        # Rate-like: positive and spanning two decades or more (override with --log).
        auto = [
            c
            for c in numeric
            if (numeric[c] > 0).all() and numeric[c].max() >= 100 * numeric[c].min()
        ]
        log = args.log.split(",") if args.log is not None else auto
        unknown = sorted(set(log) - set(frame.columns) - {""})
        if unknown:
            raise UserError(f"--log names '{unknown[0]}', which the sweep does not vary")
        target = group["value"].to_numpy()
        result = {}
        if args.method in ("both", "nrrelieff"):
            config = importance.ReliefConfig(
                k=args.k, log_columns=tuple(log), normalization=args.normalization
            )
            result["nrrelieff"] = importance.nrrelieff(frame, target, config)
        if args.method in ("both", "fanova"):
            result["fanova"] = importance.fanova(frame, target, tuple(log))
        out[workload] = result
    if args.json:
        payload = {
            w: {
                **{m: v.round(6).to_dict() for m, v in r.items()},
                **({"agreement": importance.agreement(*r.values())} if len(r) == 2 else {}),
            }
            for w, r in out.items()
        }
        print(json.dumps(payload, indent=2))
        return 0
    for workload, result in out.items():
        table = pd.DataFrame(result).sort_values(list(result)[0], ascending=False)
        print(f"## {workload} ({len(finals[finals['workload'] == workload])} trials)")
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
        if len(result) == 2:
            a = importance.agreement(*result.values())
            print(f"agreement: Kendall tau {a['kendall_tau']:.2f}, Spearman {a['spearman']:.2f}")
        print()
    return 0


def cmd_analyze_landscape(args) -> int:
    import pandas as pd

    from algoperf_lite.analysis import landscapes

    finals = _sweep_finals(args)
    if args.column not in finals.columns:
        cols = [c for c in finals.columns if "loss" in c or c == "value"]
        raise UserError(f"the sweep has no column '{args.column}'; try one of {', '.join(cols)}")
    out = {}
    for workload, group in finals.groupby("workload"):
        frame = _varying_hparams(group)
        if frame.duplicated().any():
            raise UserError(
                f"{workload}: several trials share a grid point; pass a grid sweep of one seed"
            )
        categorical = [c for c in frame if not pd.api.types.is_numeric_dtype(frame[c])]
        land = landscapes.Landscape.from_frame(frame, group[args.column], categorical)
        out[workload] = landscapes.metrics(land)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for workload, m in out.items():
            print(f"{workload}: " + ", ".join(f"{k} {v:.3g}" for k, v in m.items()))
    return 0


def add_commands(sub) -> None:
    """``lists build|evaluate`` and ``analyze importance|landscape``."""
    p = sub.add_parser("lists", help="hyperparameter lists from a sweep")
    lists_sub = p.add_subparsers(dest="lists_command", required=True, parser_class=Parser)
    q = lists_sub.add_parser("build", help="build a list greedily from a sweep table")
    q.add_argument("sweep", help="a sweep table (.csv.gz), e.g. results/sweeps/nadamw_broad.csv.gz")
    q.add_argument("--length", type=int, default=5)
    q.add_argument("--output", help="write the list here (a JSON list usable as a search space)")
    q.set_defaults(func=cmd_lists_build)
    q = lists_sub.add_parser(
        "evaluate", help="held-out tables (by workload and by family) with baselines"
    )
    q.add_argument("sweep_dir", help="folder of the study's sweeps, e.g. results/sweeps")
    q.set_defaults(func=cmd_lists_evaluate)

    p = sub.add_parser("analyze", help="hyperparameter importance and loss landscapes of a sweep")
    analyze_sub = p.add_subparsers(dest="analyze_command", required=True, parser_class=Parser)
    q = analyze_sub.add_parser("importance", help="N-RReliefF and fANOVA importances per workload")
    q.add_argument("sweep", help="a sweep table, e.g. results/sweeps/nadamw_broad.csv.gz")
    q.add_argument("--method", choices=["both", "nrrelieff", "fanova"], default="both")
    q.add_argument("--workload", help="only this workload of the sweep")
    q.add_argument("--k", type=positive, default=10, help="N-RReliefF neighbours (default 10)")
    q.add_argument("--normalization", choices=["clip", "shift", "none"], default="clip")
    q.add_argument("--log", help="comma-separated names compared on a log scale (default: auto)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_analyze_importance)
    q = analyze_sub.add_parser("landscape", help="fitness landscape metrics of a grid sweep")
    q.add_argument("sweep", help="a grid sweep table, e.g. results/sweeps/landscapes.csv.gz")
    q.add_argument(
        "--column", default="validation/loss", help="the loss to analyze (lower is better)"
    )
    q.add_argument("--workload", help="only this workload of the sweep")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_analyze_landscape)
