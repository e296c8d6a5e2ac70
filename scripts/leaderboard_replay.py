"""AlgoPerf's v0.5 external-tuning leaderboard, replayed on the offline suite.

    python scripts/leaderboard_replay.py --leaderboard PATH/submissions_algorithms \
        [--studies 3] [--trials 5] [--output results/leaderboard_replay] [--only NAME ...]

A pre-registered validity study: the entries, their sources and the statistic
are fixed below, before any result. Each entry is tuned by the external-tuning
ruleset (``tuning.tune``, as ``benchmark`` does) with the entry's own search
space (its ``tuning_search_space.json``, read from the given checkout of
AlgoPerf's leaderboard repository; every v0.5 space is a 5-point list), on the
six offline workloads, and all entries are scored together by AlgoPerf's
rules (``scoring.score``). Entries written in JAX run from their own files in
that checkout, unchanged; entries that exist only in PyTorch run as our
re-expressions in optax (``submissions/leaderboard_v05/``, each labelled).
The report (``results/validity.md``, ``validity.json``) sets our scores and
their 95% intervals beside the official ones, with Kendall's tau and
Spearman's rho between the two rankings and bootstrap intervals (each draw
resamples the studies within each workload, as the scorer's intervals do,
and the entries, with replacement). Every run resumes where a kill left it.
"""

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ENTRIES_DIR = os.path.join(
    "previous_leaderboards", "algoperf_v05", "submissions", "external_tuning"
)
REEXPRESSED = os.path.join(ROOT, "submissions", "leaderboard_v05")
# name -> (official v0.5 external-tuning score, entry folder, our re-expression or None)
ENTRIES = {
    "Distributed Shampoo": (0.778, "shampoo_submission", None),
    "Schedule-Free AdamW": (0.708, "schedule_free_adamw", "schedule_free_adamw.py"),
    "Generalized Adam": (0.638, "generalized_adam", None),
    "Cyclic LR": (0.630, "cyclic_lr", "cyclic_lr.py"),
    "NadamP": (0.591, "nadamp", None),
    "Baseline (NAdamW)": (0.571, "baseline", None),
    "Amos": (0.492, "amos", None),
    "CASPR Adaptive": (0.472, "caspr_adaptive", None),
    "LAWA Queue": (0.370, "lawa_queue", "lawa_queue.py"),
    "LAWA EMA": (0.338, "lawa_ema", "lawa_ema.py"),
    "Schedule-Free Prodigy": (0.000, "schedule_free_prodigy", "schedule_free_prodigy.py"),
}
# Not replayed, and why (said in the report).
NOT_REPLAYED = {
    "Distributed Shampoo": "PyTorch only; its search space names the PyTorch Shampoo's "
    "options, which AlgoPerf's archived JAX Shampoo does not read",
}
# Changes to the protocol after it was committed, each before any entry was scored.
AMENDMENTS = (
    "CASPR Adaptive's file imports its helper by a module path of its original "
    "repository, so it cannot run unchanged; failures are now recorded per entry "
    "instead of stopping the replay, and LAWA Queue was re-expressed so that at "
    "least eight entries replay.",
    "Schedule-Free Prodigy was re-expressed (its optimizer, step for step) and added, "
    "and the self-tuning entries that can run were added as a second, separate "
    "table; both before any entry was scored.",
)
# The self-tuning leaderboard: name -> (official v0.5 score, entry folder). Each runs
# from its own file under the self-tuning ruleset (its own fixed hyperparameters,
# 1.5x the step budget), or is recorded as unable to run.
SELF_TUNING_DIR = os.path.join(
    "previous_leaderboards", "algoperf_v05", "submissions", "self_tuning"
)
SELF_TUNING = {
    "Schedule-Free AdamW": (0.854, "schedule_free_adamw"),
    "Baseline (NAdamW)": (0.819, "baseline"),
    "NadamW Sequential": (0.331, "nadamw_sequential"),
    "Sinv6_75": (0.142, "sinv6_75"),
    "Sinv6": (0.090, "sinv6"),
    "AdamG": (0.000, "adamg"),
}
SELF_TUNING_NOT_REPLAYED = {
    "Schedule-Free AdamW": "PyTorch only; its self-tuning form adds polynomial averaging "
    "weights (r = 0.75) and a forced reset that optax.contrib's schedule_free_adamw "
    "lacks; not re-expressed",
    "AdamG": "PyTorch only; not re-expressed",
}
DRAWS = 2000


def sources(leaderboard: str) -> dict[str, tuple[str, str, bool]]:
    """name -> (submission file, search space file, re-expressed?) for each replayed entry."""
    out = {}
    for name, (_, folder, ours) in ENTRIES.items():
        if name in NOT_REPLAYED:
            continue
        entry = os.path.join(leaderboard, ENTRIES_DIR, folder)
        space = os.path.join(entry, "tuning_search_space.json")
        path = os.path.join(REEXPRESSED, ours) if ours else os.path.join(entry, "submission.py")
        out[name] = (path, space, ours is not None)
    return out


def self_tuning_sources(leaderboard: str) -> dict[str, tuple[str, None, bool]]:
    """name -> (submission file, no space, False) for each self-tuning entry tried."""
    return {
        name: (os.path.join(leaderboard, SELF_TUNING_DIR, folder, "submission.py"), None, False)
        for name, (_, folder) in SELF_TUNING.items()
        if name not in SELF_TUNING_NOT_REPLAYED
    }


def folder_of(output: str, source: str) -> str:
    """An entry's experiment folder: named after the entry's folder."""
    return os.path.join(output, os.path.basename(os.path.dirname(source)))


def replay(chosen: dict, output: str, studies: int, trials: int, ruleset="external") -> None:
    """Tune every chosen entry (resuming); an entry whose file cannot run here
    leaves its one-line error in ``<folder>/could_not_run.txt`` for the report."""
    from algoperf_lite import load_submission
    from algoperf_lite.core.errors import UserError
    from algoperf_lite.train import records
    from algoperf_lite.tuning.study import tune
    from workloads import suite

    for name, (path, space, _) in chosen.items():
        folder = folder_of(output, space or path)
        os.makedirs(folder, exist_ok=True)
        tic = time.perf_counter()
        try:
            submission = load_submission(path)
        except UserError as e:
            with open(os.path.join(folder, FAILED), "w") as f:
                f.write(" ".join(str(e).replace(path, "its file").split()) + "\n")
            print(f"{name}: could not run: {e}", flush=True)
            continue
        for workload in suite("offline"):
            try:
                tune(
                    [workload], submission, space, output=folder, studies=studies,
                    trials=trials, ruleset=ruleset,
                )  # fmt: skip
            except Exception as e:  # the entry's own code failed on this workload
                why = " ".join(f"{type(e).__name__}: {e}".split())
                withdrawn = records.withdraw_workload(folder, workload.name, why)
                print(f"{name}: failed on {workload.name} ({withdrawn} trials withdrawn): {why}")
        print(f"{name}: {time.perf_counter() - tic:.0f}s", flush=True)


FAILED = "could_not_run.txt"


def failures(chosen: dict, output: str) -> dict[str, str]:
    out = {}
    for name, (source, space, _) in chosen.items():
        path = os.path.join(folder_of(output, space or source), FAILED)
        if os.path.exists(path):
            with open(path) as f:
                out[name] = f.read().strip()
    return out


def analyse(folders: dict, chosen: dict, official: dict) -> dict:
    """Our scores beside the official ones; the rank agreement where at least
    three entries ran (fewer have no ranking to compare)."""
    from algoperf_lite.analysis import agreement, experiments, scoring
    from algoperf_lite.tuning import search_space

    seen: dict = {}
    read = {
        n: experiments.read_experiment(p, "steps", None, seen, True, False)
        for n, p in folders.items()
    }
    report = scoring.score(folders)
    official = {n: official[n] for n in folders}
    agreed = None
    if len(folders) >= 3:
        draws = scoring.bootstrap_scores(read, draws=DRAWS)
        agreed = agreement.rank_agreement(report.scores, draws, official)
    ours_rank, their_rank = agreement.ranks(report.scores), agreement.ranks(official)
    return {
        "entries": {
            n: {
                "official": official[n],
                "ours": report.scores[n],
                "interval": list(report.intervals[n]),
                "official_rank": their_rank[n],
                "our_rank": ours_rank[n],
                "re_expressed": chosen[n][2],
                "reached": {w: list(v) for w, v in report.reached[n].items()},
                "learning_rates": search_space.learning_rate_range(chosen[n][1]),
                "steps": report.times[n],
            }
            for n in folders
        },
        "workloads": report.workloads,
        "agreement": agreed,
    }


def _table(part: dict, official: dict) -> list[str]:
    """The score table of one leaderboard, entries in the official order."""
    entries, workloads = part["entries"], part["workloads"]
    lines = [
        "| entry | official score (rank) | our score [95%] (rank) | "
        + " | ".join(workloads)
        + " |",
        "|---" * (3 + len(workloads)) + "|",
    ]
    for n in sorted(entries, key=lambda n: entries[n]["official_rank"]):
        e = entries[n]
        failed = part.get("failed_workloads", {}).get(n, {})
        cells = [
            "failed" if w in failed else "{}/{}".format(*e["reached"].get(w, (0, 0)))
            for w in workloads
        ]
        star = "*" if e["re_expressed"] else ""
        lo, hi = e["interval"]
        lines.append(
            f"| {n}{star} | {e['official']:.3f} ({e['official_rank']}) | {e['ours']:.3f} "
            f"[{lo:.3f}, {hi:.3f}] ({e['our_rank']}) | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "Workload cells: trials that reached the target / trials run; *failed*: the "
        "entry's own code raised there, which counts as never reaching the target.",
        "",
    ]
    lines += [
        f"- {n} failed on {w}: {why}"
        for n, failed in part.get("failed_workloads", {}).items()
        for w, why in failed.items()
    ]
    lines += [
        f"- {n} (official {official[n]:.3f}) could not run here: {why}"
        for n, why in part["could_not_run"].items()
    ]
    lines += [
        f"- {n} (official {official[n]:.3f}) not replayed: {why}."
        for n, why in part["not_replayed"].items()
    ]
    return lines


def _agreement(a: dict | None) -> str:
    if a is None:
        return (
            "**No rank agreement**: fewer than three entries ran, so there is no ranking "
            "to compare; the scores are shown as they are."
        )
    tau, rho = a["kendall_tau"], a["spearman_rho"]
    return (
        f"**Kendall's tau {tau['value']:.2f} [{tau['low']:.2f}, {tau['high']:.2f}], "
        f"Spearman's rho {rho['value']:.2f} [{rho['low']:.2f}, {rho['high']:.2f}]** "
        f"over {a['entries']} entries (95% intervals from {a['draws']} draws resampling "
        "the studies within each workload and the entries)."
    )


def markdown(result: dict, studies: int, trials: int) -> str:
    entries = result["entries"]
    lines = [
        "# Validity: AlgoPerf's v0.5 leaderboard, replayed here",
        "",
        "Regenerate with `python scripts/leaderboard_replay.py --leaderboard "
        "PATH/submissions_algorithms` (a checkout of AlgoPerf's leaderboard repository; "
        "the project contains none of its files). A pre-registered study: the entries, "
        "workloads, targets and statistic were committed before it ran, and nothing was "
        "changed after. Each entry: external tuning with its own search space (a 5-point "
        f"list), {studies} studies x {trials} trials on each of the six offline workloads, "
        "all entries scored together by AlgoPerf's rules. Entries written in JAX ran "
        "from their own files, unchanged; PyTorch-only entries ran as our optax "
        "re-expressions (marked *, see `submissions/leaderboard_v05/`).",
        "",
        "## External tuning",
        "",
        _agreement(result["agreement"]),
        "",
        *_table(result, {n: v[0] for n, v in ENTRIES.items()}),
        "",
        "## Who moves most",
        "",
    ]
    moved = sorted(
        entries, key=lambda n: -abs(entries[n]["our_rank"] - entries[n]["official_rank"])
    )
    for n in moved[:3]:
        e = entries[n]
        missed = [w for w in result["workloads"] if e["reached"].get(w, (0, 0))[0] == 0]
        rates = e.get("learning_rates")
        space = (
            f"its space's learning rates run from {rates[0]:.2g} to {rates[1]:.2g}"
            if rates
            else "its space sets no learning rate (the optimizer finds its own step size)"
        )
        lines.append(
            f"- {n}: official rank {e['official_rank']}, ours {e['our_rank']}; no trial "
            f"reached the target on {', '.join(missed) or 'none'}; {space}."
        )
    hit = sum(r[0] for e in entries.values() for r in e["reached"].values())
    run = sum(r[1] for e in entries.values() for r in e["reached"].values())
    lines += [
        "",
        f"Of all {run} trials, {hit} reached their workload's target. Every v0.5 space is "
        "a 5-point list chosen for AlgoPerf's workloads; where none of its points reaches "
        "a workload's target within the budget here, that entry scores nothing there.",
    ]
    self_tuning = result.get("self_tuning")
    if self_tuning:
        lines += [
            "",
            "## Self-tuning",
            "",
            f"Each entry from its own file with its own fixed hyperparameters, {studies} "
            "runs per workload at 1.5x the step budget (our self-tuning ruleset), scored "
            "together.",
            "",
            _agreement(self_tuning["agreement"]),
            "",
            *_table(self_tuning, {n: v[0] for n, v in SELF_TUNING.items()}),
        ]
    lines += ["", "## Protocol changes after registration", ""]
    lines += [f"- {a}" for a in AMENDMENTS]
    return "\n".join(lines) + "\n"


def _part(chosen: dict, output: str, official: dict, not_replayed: dict) -> dict:
    failed = failures(chosen, output)
    folders = {
        n: folder_of(output, space or source)
        for n, (source, space, _) in chosen.items()
        if n not in failed and os.path.isdir(folder_of(output, space or source))
    }
    part = analyse(folders, chosen, official) if folders else {"entries": {}, "workloads": []}
    part.setdefault("agreement", None)
    from algoperf_lite.train import records

    broken = {n: records.failed_workloads(f) for n, f in folders.items()}
    return {
        **part,
        "could_not_run": failed,
        "failed_workloads": {n: v for n, v in broken.items() if v},
        "not_replayed": not_replayed,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaderboard", help="a checkout of mlcommons/submissions_algorithms")
    parser.add_argument("--studies", type=int, default=3)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--output", default=os.path.join(ROOT, "results", "leaderboard_replay"))
    parser.add_argument("--results", default=os.path.join(ROOT, "results"))
    parser.add_argument("--only", action="append", help="run only this entry (repeatable)")
    parser.add_argument("--report-only", action="store_true", help="score what has run")
    parser.add_argument(
        "--table", choices=("external", "self_tuning", "both"), default="both",
        help="which leaderboard to run (the report always covers both)",
    )  # fmt: skip
    args = parser.parse_args()
    if not args.leaderboard or not os.path.isdir(os.path.join(args.leaderboard, ENTRIES_DIR)):
        parser.exit(
            2,
            "leaderboard_replay.py: error: pass --leaderboard PATH, a checkout of "
            f"mlcommons/submissions_algorithms (it must hold {ENTRIES_DIR})\n",
        )
    chosen = sources(args.leaderboard)
    self_chosen = self_tuning_sources(args.leaderboard)
    unknown = [n for n in args.only or [] if n not in chosen and n not in self_chosen]
    if unknown:
        parser.exit(
            2,
            f"leaderboard_replay.py: error: no entry '{unknown[0]}'; "
            f"choose from: {', '.join(dict.fromkeys([*chosen, *self_chosen]))}\n",
        )
    self_output = os.path.join(args.output, "self_tuning")
    if not args.report_only:
        if args.table in ("external", "both"):
            picked = {n: chosen[n] for n in (args.only or chosen) if n in chosen}
            replay(picked, args.output, args.studies, args.trials)
        if args.table in ("self_tuning", "both"):
            picked = {n: self_chosen[n] for n in (args.only or self_chosen) if n in self_chosen}
            replay(picked, self_output, args.studies, 1, ruleset="self")
        if args.only:
            return 0
    result = _part(chosen, args.output, {n: v[0] for n, v in ENTRIES.items()}, NOT_REPLAYED)
    result["self_tuning"] = _part(
        self_chosen, self_output, {n: v[0] for n, v in SELF_TUNING.items()},
        SELF_TUNING_NOT_REPLAYED,
    )  # fmt: skip
    with open(os.path.join(args.results, "validity.json"), "w") as f:
        json.dump(result, f, indent=1)
    text = markdown(result, args.studies, args.trials)
    with open(os.path.join(args.results, "validity.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
