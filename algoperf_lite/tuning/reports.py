"""Result tables that ``make reproduce`` regenerates."""

from __future__ import annotations

import datetime
import os
import statistics

from tqdm import tqdm

from algoperf_lite.core import io
from algoperf_lite.loading import load_submission
from algoperf_lite.train.loop import run_trial
from algoperf_lite.train.program import compiled_program

# The committed baselines that `benchmark` scores a new submission beside:
# name -> (submission, its search space in submissions/search_spaces/).
# nadamw_list is NAdamW with the hyperparameter list built on all twelve
# offline and variant workloads (results/lists.md); plain_sgd is the negative
# control.
BASELINES = {
    "nadamw": ("nadamw", "nadamw"),
    "nadamw_list": ("nadamw", "nadamw_list"),
    "adamw": ("adamw", "adamw"),
    "sgd": ("sgd", "sgd"),
    "plain_sgd": ("plain_sgd", "plain_sgd"),
}


def run_baselines(
    folder: str, names=tuple(BASELINES), workloads=None, progress: bool = True
) -> None:
    """Tune each baseline with its shipped search space on the offline suite (or
    ``workloads``; external tuning, 3 studies x 5 trials) into ``folder/<name>``;
    resumes what a kill left."""
    from algoperf_lite.tuning.search_space import default_space
    from algoperf_lite.tuning.study import tune
    from workloads import suite

    for name in names:
        submission, space = BASELINES[name]
        tune(
            workloads or suite("offline"),
            load_submission(submission),
            default_space(space),
            output=os.path.join(folder, name),
            progress=progress,
        )


def _median(values):
    """Median with misses as infinity (AlgoPerf's convention); None if it is a miss."""
    value = statistics.median(float("inf") if v is None else v for v in values)
    return None if value == float("inf") else value


def baseline(workloads, seeds: int = 3, progress: bool = True) -> dict:
    """The target-setting point of each workload (the winning reference optimizer
    and its point, from the provenance) run as a submission within the budget on
    ``seeds`` fresh seeds, beside the count its 20-seed check reached."""
    jobs = []
    for w in workloads:
        record = w.provenance or {}
        winner = record.get("winner", {}).get("submission", "nadamw")
        point = record.get("best_hparams") or {}
        jobs += [(w, load_submission(winner), point, s) for s in range(seeds)]
    results, compile_time = {}, {}
    for w, submission, hp, seed in tqdm(jobs, desc="baseline", unit="trial", disable=not progress):
        results.setdefault(w.name, []).append(run_trial(w, submission, hp, seed=seed))
        # Measured when the program was compiled, even if an earlier job compiled it.
        names = tuple(sorted(submission.resolve_hparams(hp)))
        program, _ = compiled_program(w, submission, names, submission.batch_size(w))
        compile_time[w.name] = program.compile_seconds
    rows = []
    for w in workloads:
        trials = results[w.name]
        check = (w.provenance or {}).get("check", {})
        rows.append(
            {
                "workload": w.name,
                "point": (w.provenance or {}).get("winner", {}).get("optimizer", "nadamw"),
                "metric": trials[0].metric,
                "target": trials[0].target,
                "reached": sum(t.status == "target_reached" for t in trials),
                "seeds": len(trials),
                "check_reached": check.get("reached"),
                "check_seeds": check.get("of"),
                "steps_to_target": _median(t.steps_to_target for t in trials),
                "time_to_target": _median(t.time_to_target for t in trials),
                "compile_time": compile_time[w.name],
                "step_hint": trials[0].step_hint,
            }
        )
    return {
        "rows": rows,
        "machine": io.machine(),
        "versions": io.versions(),
        "date": datetime.date.today().isoformat(),
    }


def baseline_markdown(report: dict) -> str:
    def num(v, fmt):
        return "miss" if v is None else format(v, fmt)

    lines = [
        "# Baseline: the target-setting point of each offline workload",
        "",
        "Each workload's target-setting point (the best of four reference optimizers,",
        "see the README's Targets section) run as a submission, its schedule over the",
        "step budget, on fresh seeds 0, 1, 2. 'check' is the count of the 20 check seeds",
        "of target setting that reached the target (workloads/targets.json). Regenerate",
        "with `make reproduce`. Median over seeds; a seed that misses counts as infinity",
        "(AlgoPerf's convention). Time to target is training time only (device",
        "synchronized, compilation and evaluation excluded).",
        "",
        "| workload | optimizer | metric | target | reached | check | steps to target | time to target (s) | compile, once per workload (s) | step budget |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        check = "-" if r.get("check_seeds") is None else f"{r['check_reached']}/{r['check_seeds']}"
        lines.append(
            f"| {r['workload']} | {r['point']} | {r['metric']} | {r['target']:.4f} "
            f"| {r['reached']}/{r['seeds']} | {check} | {num(r['steps_to_target'], 'd')} "
            f"| {num(r['time_to_target'], '.2f')} | {r['compile_time']:.2f} | {r['step_hint']} |"
        )
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    lines += [
        "",
        f"Machine: {report['machine']}. Versions: {versions}. Date: {report['date']}.",
        "",
    ]
    return "\n".join(lines)


def baselines_markdown(report) -> str:
    return "\n".join(
        [
            "# Committed baselines under the external-tuning ruleset",
            "",
            "Each submission tuned with its shipped search space (submissions/search_spaces/),",
            "3 studies x 5 trials per offline workload, scored by steps to target with",
            "AlgoPerf's rules. `plain_sgd` (no momentum, constant learning rate) is the",
            "negative control. `nadamw_list` is NAdamW with the shipped hyperparameter list",
            "(submissions/search_spaces/nadamw_list.json, built on all twelve offline and",
            "variant workloads from seed-0 sweep runs, so in-sample here; its held-out",
            "quality is in results/lists.md). `algoperf-lite benchmark` scores a new",
            "submission beside these.",
            "Regenerate the experiments with `make reproduce FROM_SCRATCH=1`.",
            "",
            report.markdown(),  # with the first submission's (nadamw's) verdicts
            "",
            "## Trials that reached the target",
            "",
            "Reached / run, over the 3 studies x 5 trials of each workload.",
            "",
            report.reached_markdown(),
            "",
        ]
    )


def targets_markdown(workloads) -> str:
    """How each workload's target was set: the winning reference optimizer, the
    horizon and budget, the target, and how many check seeds reached it."""
    lines = [
        "# Targets and budgets",
        "",
        "Set by `make targets` (scripts/set_targets.py; the procedure is in the README's",
        "Targets section and algoperf_lite/tuning/targets.py), recorded with every seed's value in",
        "workloads/targets.json, every run in results/target_setting/. This table is",
        "regenerated by `make reproduce` from targets.json.",
        "",
        "| workload | trials per optimizer | best of each (adamw / nadamw / nesterov / heavy ball) | winner | horizon T | step_hint | validation target | test target | check: reached within step_hint | CPU s to set |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    machines = set()
    for w in workloads:
        record = w.provenance or {}
        if "check" not in record:
            continue
        best = record["best_per_optimizer"]
        cells = " / ".join(
            "-" if best.get(k) is None else f"{best[k]:.4g}"
            for k in ("adamw", "nadamw", "nesterov", "heavy_ball")
        )
        trials = sorted(set(record["trials_per_optimizer"].values()))
        check = record["check"]
        flag = "" if check["reached"] >= 0.9 * check["of"] else " (below 18/20)"
        winner = record["winner"]["optimizer"]
        lines.append(
            f"| {w.name} | {'/'.join(map(str, trials))} | {cells} | {winner} "
            f"| {record['horizon']} | {w.step_hint} | {w.validation_target:.4g} "
            f"| {w.test_target:.4g} | {check['reached']}/{check['of']}{flag} "
            f"| {record['seconds']:.0f} |"
        )
        machines.add(record["machine"])
    lines += [
        "",
        "Seeds: 20 at horizon T set the targets, 20 others run the check. Machine: "
        + "; ".join(sorted(machines))
        + ". A GPU check is not measured yet.",
        "",
    ]
    return "\n".join(lines)
