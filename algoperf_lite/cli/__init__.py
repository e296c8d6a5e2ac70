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
import sys

from algoperf_lite.cli.args import Parser
from algoperf_lite.core.errors import UserError

EXIT_BAD_INPUT = 2
# Commands that compile training programs: they share JAX's on-disk cache.
TRAINING_COMMANDS = ("run", "tune", "benchmark")


def build_parser() -> argparse.ArgumentParser:
    """Every command group adds its commands (each module imports no JAX until
    a command runs, so ``--help`` and argument errors answer at once)."""
    from algoperf_lite.cli import analysis, registry, training

    parser = Parser(prog="algoperf-lite", description="AlgoPerf-style benchmarking in small.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in (registry, training, analysis):
        group.add_commands(sub)
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
