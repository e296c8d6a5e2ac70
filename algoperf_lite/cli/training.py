"""Commands that train and score: ``run``, ``tune``, ``score``, ``benchmark``."""

from __future__ import annotations

import json
import os

from algoperf_lite.cli.args import (
    add_progress,
    add_tuning_args,
    positive,
    seconds,
    seed,
    show_progress,
)
from algoperf_lite.core.errors import UserError

BASELINES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "results", "baselines"
)


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
        progress=show_progress(args),
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


def _tune(args, workloads, submission, output):
    """``tuning.study.tune`` with the tuning options of ``tune`` and ``benchmark``."""
    from algoperf_lite.tuning.study import tune

    return tune(
        workloads,
        submission,
        _space_for(args, submission),
        output=output,
        ruleset=args.ruleset,
        trials=args.trials,
        studies=args.studies,
        seed=args.seed,
        progress=show_progress(args),
        trials_per_step=args.trials_per_step,
        workers=args.workers,
    )


def cmd_tune(args) -> int:
    from algoperf_lite.loading import load_submission
    from workloads import get_workload

    workload = get_workload(args.workload)
    submission = load_submission(args.submission)
    results = _tune(args, [workload], submission, args.output)
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
    from algoperf_lite.analysis import experiments, scoring

    targets = None
    if args.targets:
        if not os.path.isfile(args.targets):
            raise UserError(f"targets file not found: {args.targets}; check the path")
        targets = experiments.read_targets(args.targets)
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
    from workloads import suite

    submission = load_submission(args.submission)
    members = suite(args.suite)
    output = args.output or os.path.join("runs", "benchmark", submission.name)
    _tune(args, members, submission, output)
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


def add_commands(sub) -> None:
    """``run``, ``tune``, ``score`` and ``benchmark``."""
    p = sub.add_parser("run", help="train one trial")
    p.add_argument("--workload", required=True, help="a registered name or path/file.py:NAME")
    p.add_argument("--submission", required=True, help="a registered name or a .py file")
    p.add_argument("--hparams", help="JSON object or JSON file overriding the defaults")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--output", help="experiment folder (default: runs/<submission>)")
    p.add_argument(
        "--trial", type=positive, default=1, help="trial index in the folder (default 1)"
    )
    p.add_argument("--max-steps", type=int, help="step budget (default: the workload's step_hint)")
    p.add_argument("--max-seconds", type=seconds, help="training-time budget in seconds")
    p.add_argument("--checkpoint-every", type=positive, help="checkpoint every N steps (orbax)")
    p.add_argument("--checkpoint-seconds", type=seconds, help="checkpoint every T seconds")
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
    add_progress(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("tune", help="run a tuning ruleset's studies on one workload")
    p.add_argument("--workload", required=True)
    p.add_argument("--submission", required=True)
    p.add_argument("--output", required=True, help="experiment folder (AlgoPerf layout)")
    add_tuning_args(p)
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
    add_tuning_args(p)
    p.set_defaults(func=cmd_benchmark)
