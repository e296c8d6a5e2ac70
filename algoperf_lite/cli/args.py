"""Argument types and options that several commands share."""

from __future__ import annotations

import argparse
import math
import sys

from algoperf_lite.core.errors import UserError


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise UserError(f"{message} (see '{self.prog} --help')")


def show_progress(args) -> bool:
    return sys.stderr.isatty() if args.progress is None else args.progress


def add_tuning_args(p):
    p.add_argument("--search-space", help="AlgoPerf JSON space or list (default: the shipped one)")
    p.add_argument("--ruleset", choices=["external", "self"], default="external")
    p.add_argument("--trials", type=positive, default=5, help="trials per study (default 5)")
    p.add_argument(
        "--studies",
        type=positive,
        default=3,
        help="studies (default 3; more studies give a tighter score interval)",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--trials-per-step",
        type=positive,
        help="trials vmapped into one compiled step (default: measured per workload; "
        "each result.json says what was chosen and why)",
    )
    p.add_argument(
        "--workers",
        type=positive,
        help="worker processes sharing the trials, one per core (default: measured; 1: none)",
    )
    add_progress(p)


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return int(text)


MAX_SEED = 2**31 - 1


def seed(text: str) -> int:
    try:
        int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: '{text}'") from None
    if not text.isdigit() or int(text) > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to {MAX_SEED}, got '{text}'")
    return int(text)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds > 0, got '{text}'")
    return value


def add_progress(p):
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )
