"""The ``algoperf-lite`` command.

    algoperf-lite workloads [--json]
    algoperf-lite run --workload W --submission S [--hparams JSON-or-file]
                      [--seed N] [--output DIR] [--max-steps N] [--max-seconds T]

Bad input ends with one line on stderr naming the problem and the fix, and
exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from algoperf_lite.errors import UserError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise UserError(f"{message} (see '{self.prog} --help')")


def _workload_rows():
    from workloads import WORKLOADS

    return [
        {
            "name": w.name,
            "description": w.description,
            "metric": w.metric_column,
            "target": w.validation_target,
            "test_target": w.test_target,
            "higher_is_better": w.higher_is_better,
            "step_hint": w.step_hint,
            "batch_size": w.batch_size,
            "eval_every": w.eval_every,
            "offline": w.offline,
        }
        for w in WORKLOADS.values()
    ]


def cmd_workloads(args) -> int:
    rows = _workload_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'name':<14} {'metric':<22} {'target':>8} {'step_hint':>9}  description"
    print(header)
    for r in rows:
        target = "-" if r["target"] is None else f"{r['target']:.4f}"
        print(
            f"{r['name']:<14} {r['metric']:<22} {target:>8} {r['step_hint']:>9}  {r['description']}"
        )
    return 0


def cmd_run(args) -> int:
    from algoperf_lite import io
    from algoperf_lite.runner import run_trial
    from algoperf_lite.spec import load_submission, read_hparams
    from workloads import get_workload

    workload = get_workload(args.workload)
    submission = load_submission(args.submission)
    hparams = submission.resolve_hparams(read_hparams(args.hparams))
    output = args.output or os.path.join("runs", submission.name)
    folder = io.trial_dir(output, workload.name, trial=args.trial)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    result = run_trial(
        workload,
        submission,
        hparams,
        seed=args.seed,
        max_steps=args.max_steps,
        max_seconds=args.max_seconds,
        output_dir=folder,
        progress=progress,
    )
    prefix = "already complete: " if result.skipped else ""
    print(f"{prefix}{result.summary()}")
    print(f"results in {folder}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="algoperf-lite", description="AlgoPerf-style benchmarking in small.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("workloads", help="list the registered workloads")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_workloads)

    p = sub.add_parser("run", help="train one trial")
    p.add_argument("--workload", required=True, help="a registered workload name")
    p.add_argument("--submission", required=True, help="a registered name or a .py file")
    p.add_argument("--hparams", help="JSON object or JSON file overriding the defaults")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", help="experiment folder (default: runs/<submission>)")
    p.add_argument("--trial", type=int, default=1, help="trial index in the folder (default 1)")
    p.add_argument("--max-steps", type=int, help="step budget (default: the workload's step_hint)")
    p.add_argument("--max-seconds", type=float, help="training-time budget in seconds")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )
    p.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UserError as e:
        print(f"algoperf-lite: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("algoperf-lite: interrupted; finished trials are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
