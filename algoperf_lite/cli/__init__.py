"""The ``algoperf-lite`` command.

    algoperf-lite workloads [--json] [--suite offline|variants|tfds]
    algoperf-lite data prepare NAME   (a TFDS workload or dataset; downloads once)
    algoperf-lite run --workload W --submission S [--hparams JSON-or-file]
                      [--seed N] [--output DIR] [--max-steps N] [--max-seconds T]
    algoperf-lite tune --workload W --submission S [--search-space F]
                       [--ruleset external|self] [--trials 5] [--studies 3] [--seed N]
                       [--trials-per-step K] --output DIR
    algoperf-lite score DIR... [--json] [--time steps|seconds] [--targets F] [--report DIR]
    algoperf-lite benchmark --submission S [--search-space F] [--output DIR]
    algoperf-lite lists build SWEEP [--length 5] [--output FILE]
    algoperf-lite lists evaluate SWEEP_DIR [--length 5]
    algoperf-lite analyze importance SWEEP [--method both|nrrelieff|fanova] [--workload W]
                      [--k 10] [--normalization clip|shift|none] [--log NAMES] [--json]
    algoperf-lite analyze landscape SWEEP [--column validation/loss] [--workload W] [--json]

Bad input ends with one line on stderr naming the problem and the fix, and
exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import sys

from algoperf_lite.core.errors import UserError

EXIT_BAD_INPUT = 2
# Commands that compile training programs: they share JAX's on-disk cache.
TRAINING_COMMANDS = ("run", "tune", "benchmark")
BASELINES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "results", "baselines"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise UserError(f"{message} (see '{self.prog} --help')")


# The registry's metadata, written by `algoperf-lite workloads --refresh` (a test
# checks it is current): listing the workloads then needs no JAX and no model.
CATALOG = "catalog.json"


def _catalog_path() -> str:
    import importlib.util

    package = importlib.util.find_spec("workloads")  # locates it without importing it
    return os.path.join(os.path.dirname(package.origin), CATALOG)


def catalog_rows() -> list[dict]:
    """Every registered workload's metadata, as ``describe`` gives it, in suite order."""
    from workloads import SUITES, describe, suite

    return [describe(w) for name in SUITES for w in suite(name)]


def cmd_workloads(args) -> int:
    path = _catalog_path()
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


def cmd_run(args) -> int:
    from algoperf_lite.core import io
    from algoperf_lite.core.spec import read_hparams
    from algoperf_lite.loading import load_submission
    from algoperf_lite.train import checkpoints, program, records
    from algoperf_lite.train.loop import run_trial
    from workloads import get_workload

    workload = get_workload(args.workload)
    submission = load_submission(args.submission)
    hparams = submission.resolve_hparams(read_hparams(args.hparams))
    output = args.output or os.path.join("runs", submission.name)
    folder = io.trial_dir(output, workload.name, trial=args.trial)
    if args.resume and not (checkpoints.exists(folder) or io.is_finished(folder)):
        raise UserError(f"nothing to resume in {folder}; run without --resume to start")
    records.add_to_manifest(output, submission, [folder])
    result = run_trial(
        workload,
        submission,
        hparams,
        seed=args.seed,
        max_steps=args.max_steps,
        max_seconds=args.max_seconds,
        output_dir=folder,
        checkpoint_every=args.checkpoint_every,
        checkpoint_seconds=args.checkpoint_seconds,
        progress=_progress(args),
        mesh=program.data_mesh() if args.data_parallel else None,
    )
    prefix = "already complete: " if result.skipped else ""
    print(f"{prefix}{result.summary()}")
    print(f"results in {folder}")
    return 0


def _space_for(args, submission):
    from algoperf_lite.tuning import search_space

    if args.ruleset == "self":
        if args.search_space:
            raise UserError("self-tuning takes no search space; drop --search-space")
        return None
    if args.search_space:
        return search_space.load(args.search_space)
    space = search_space.default_space(submission.name)
    if space is None:
        raise UserError(
            f"no search space shipped for '{submission.name}'; pass --search-space FILE "
            "(AlgoPerf's JSON format) or use --ruleset self"
        )
    return space


def cmd_tune(args) -> int:
    from algoperf_lite.loading import load_submission
    from algoperf_lite.tuning.study import tune
    from workloads import get_workload

    workload = get_workload(args.workload)
    submission = load_submission(args.submission)
    results = tune(
        [workload],
        submission,
        _space_for(args, submission),
        output=args.output,
        ruleset=args.ruleset,
        trials=args.trials,
        studies=args.studies,
        seed=args.seed,
        progress=_progress(args),
        trials_per_step=args.trials_per_step,
        workers=args.workers,
    )
    reached = sum(r.status == "target_reached" for r in results)
    skipped = sum(r.skipped for r in results)
    print(
        f"{workload.name} / {submission.name}: {len(results)} trials ({skipped} already done), "
        f"{reached} reached the target; results in {args.output}"
    )
    return 0


def _score_args(paths):
    experiments = {}
    for path in paths:
        name = os.path.basename(os.path.normpath(path))
        if name in experiments:
            raise UserError(f"two experiment folders are named '{name}'; rename one")
        experiments[name] = path
    return experiments


def cmd_score(args) -> int:
    from algoperf_lite.analysis import scoring

    targets = None
    if args.targets:
        if not os.path.isfile(args.targets):
            raise UserError(f"targets file not found: {args.targets}; check the path")
        targets = scoring.read_targets(args.targets)
    report = scoring.score(
        _score_args(args.experiments),
        time=args.time,
        targets=targets,
        allow_mixed=args.allow_mixed,
        verify=not args.unverified,
    )
    if args.report:
        report.write(args.report)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.markdown())
    return 0


def cmd_benchmark(args) -> int:
    import glob

    from algoperf_lite.analysis import scoring
    from algoperf_lite.loading import load_submission
    from algoperf_lite.tuning.study import tune
    from workloads import suite

    submission = load_submission(args.submission)
    space = _space_for(args, submission)
    members = suite(args.suite)
    output = args.output or os.path.join("runs", "benchmark", submission.name)
    tune(
        members,
        submission,
        space,
        output=output,
        ruleset=args.ruleset,
        trials=args.trials,
        studies=args.studies,
        seed=args.seed,
        progress=_progress(args),
        trials_per_step=args.trials_per_step,
        workers=args.workers,
    )
    experiments = {submission.name: output}
    for folder in sorted(glob.glob(os.path.join(args.baselines, "*"))):
        name = os.path.basename(folder)
        if os.path.isdir(folder) and name not in experiments:
            experiments[name] = folder
    report = scoring.score(experiments, time=args.time)
    report.write(os.path.join(output, "report"))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    print(report.markdown())
    print(f"report and performance profile in {os.path.join(output, 'report')}")
    return 0


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


def _progress(args) -> bool:
    return sys.stderr.isatty() if args.progress is None else args.progress


def _add_tuning_args(p):
    p.add_argument("--search-space", help="AlgoPerf JSON space or list (default: the shipped one)")
    p.add_argument("--ruleset", choices=["external", "self"], default="external")
    p.add_argument("--trials", type=_positive, default=5, help="trials per study (default 5)")
    p.add_argument(
        "--studies",
        type=_positive,
        default=3,
        help="studies (default 3; more studies give a tighter score interval)",
    )
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument(
        "--trials-per-step",
        type=_positive,
        help="trials vmapped into one compiled step (default: as many as pay off on this device)",
    )
    p.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="processes sharing one-at-a-time trials (default 1: on a 2-core CPU two ran "
        "the main job no faster, see results/speed.md)",
    )
    _add_progress(p)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return int(text)


MAX_SEED = 2**31 - 1


def _seed(text: str) -> int:
    try:
        int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: '{text}'") from None
    if not text.isdigit() or int(text) > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to {MAX_SEED}, got '{text}'")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds > 0, got '{text}'")
    return value


def _add_progress(p):
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="algoperf-lite", description="AlgoPerf-style benchmarking in small.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("workloads", help="list the registered workloads")
    p.add_argument("--json", action="store_true", help="print a JSON list with all metadata")
    p.add_argument("--suite", choices=["offline", "variants", "tfds"], help="only this suite")
    p.add_argument(
        "--refresh", action="store_true", help="rebuild the cached metadata from the registry"
    )
    p.set_defaults(func=cmd_workloads)

    p = sub.add_parser("data", help="prepare the datasets of TFDS workloads")
    data_sub = p.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    q = data_sub.add_parser("prepare", help="download and prepare one workload's dataset")
    q.add_argument("name", help="a TFDS workload (e.g. mnist_mlp) or its dataset (e.g. mnist)")
    q.set_defaults(func=cmd_data_prepare)

    p = sub.add_parser("run", help="train one trial")
    p.add_argument("--workload", required=True, help="a registered name or path/file.py:NAME")
    p.add_argument("--submission", required=True, help="a registered name or a .py file")
    p.add_argument("--hparams", help="JSON object or JSON file overriding the defaults")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--output", help="experiment folder (default: runs/<submission>)")
    p.add_argument(
        "--trial", type=_positive, default=1, help="trial index in the folder (default 1)"
    )
    p.add_argument("--max-steps", type=int, help="step budget (default: the workload's step_hint)")
    p.add_argument("--max-seconds", type=_seconds, help="training-time budget in seconds")
    p.add_argument("--checkpoint-every", type=_positive, help="checkpoint every N steps (orbax)")
    p.add_argument("--checkpoint-seconds", type=_seconds, help="checkpoint every T seconds")
    p.add_argument(
        "--data-parallel",
        action="store_true",
        help="split each batch over every local device (jit with a sharded batch)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the trial's last checkpoint (rerunning does this too)",
    )
    _add_progress(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("tune", help="run a tuning ruleset's studies on one workload")
    p.add_argument("--workload", required=True)
    p.add_argument("--submission", required=True)
    p.add_argument("--output", required=True, help="experiment folder (AlgoPerf layout)")
    _add_tuning_args(p)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("score", help="AlgoPerf score of experiment folders")
    p.add_argument("experiments", nargs="+", metavar="DIR", help="one folder per submission")
    p.add_argument("--json", action="store_true")
    p.add_argument("--time", choices=["steps", "seconds"], default="steps")
    p.add_argument("--targets", help="JSON file of targets for workloads we do not know")
    p.add_argument("--report", help="write scores.md, times.csv and the profile plot here")
    p.add_argument(
        "--unverified",
        action="store_true",
        help="score folders without our records (AlgoPerf's own): integrity checks off",
    )
    p.add_argument(
        "--allow-mixed",
        action="store_true",
        help="score results of different workload definitions or targets together",
    )
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("benchmark", help="tune on the whole suite and score against baselines")
    p.add_argument("--submission", required=True)
    p.add_argument("--suite", choices=["offline", "variants", "tfds"], default="offline")
    p.add_argument("--output", help="experiment folder (default: runs/benchmark/<submission>)")
    p.add_argument("--baselines", default=BASELINES, help="folder of baseline experiments")
    p.add_argument("--time", choices=["steps", "seconds"], default="steps")
    p.add_argument("--json", action="store_true", help="scores, intervals and verdicts as JSON")
    _add_tuning_args(p)
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser("lists", help="hyperparameter lists from a sweep")
    lists_sub = p.add_subparsers(dest="lists_command", required=True, parser_class=_Parser)
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
    analyze_sub = p.add_subparsers(dest="analyze_command", required=True, parser_class=_Parser)
    q = analyze_sub.add_parser("importance", help="N-RReliefF and fANOVA importances per workload")
    q.add_argument("sweep", help="a sweep table, e.g. results/sweeps/nadamw_broad.csv.gz")
    q.add_argument("--method", choices=["both", "nrrelieff", "fanova"], default="both")
    q.add_argument("--workload", help="only this workload of the sweep")
    q.add_argument("--k", type=_positive, default=10, help="N-RReliefF neighbours (default 10)")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command in TRAINING_COMMANDS:
            from algoperf_lite.core import compiles

            compiles.use_persistent_cache()
        return args.func(args)
    except UserError as e:
        message = " ".join(str(e).split())  # one line, whatever the input held
        print(f"algoperf-lite: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("algoperf-lite: interrupted; finished trials are kept", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" writing {e.filename}" if e.filename else ""
        print(
            f"algoperf-lite: error: the disk is full{where}; free space and rerun the same "
            "command (finished trials are kept)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
