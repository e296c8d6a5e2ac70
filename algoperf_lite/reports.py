"""Result tables that ``make reproduce`` regenerates."""

from __future__ import annotations

import datetime
import statistics

from tqdm import tqdm

from algoperf_lite import io
from algoperf_lite.runner import compiled_program, run_trial
from algoperf_lite.spec import load_submission


def _median(values):
    """Median with misses as infinity (AlgoPerf's convention); None if it is a miss."""
    value = statistics.median(float("inf") if v is None else v for v in values)
    return None if value == float("inf") else value


def baseline(workloads, seeds: int = 3, progress: bool = True) -> dict:
    """Reference NAdamW on each workload: its tuned point (from the target
    procedure) and its declared defaults, ``seeds`` seeds each."""
    nadamw = load_submission("nadamw")
    defaults = nadamw.resolve_hparams()
    hp_names = list(defaults)
    jobs = []
    for w in workloads:
        tuned = (w.provenance or {}).get("best_hparams")
        if not tuned or nadamw.resolve_hparams(tuned) == defaults:
            points = {"tuned reference point = defaults": defaults}
        else:
            points = {"tuned reference point": tuned, "defaults": defaults}
        jobs += [(w, label, hp, s) for label, hp in points.items() for s in range(seeds)]
    results, compile_time = {}, {}
    for w, label, hp, seed in tqdm(jobs, desc="baseline", unit="trial", disable=not progress):
        results.setdefault((w.name, label), []).append(run_trial(w, nadamw, hp, seed=seed))
        # Measured when the program was compiled, even if an earlier job compiled it.
        program, _ = compiled_program(w, nadamw, tuple(sorted(hp_names)), nadamw.batch_size(w))
        compile_time[w.name] = program.compile_seconds
    rows = []
    for (name, label), trials in results.items():
        rows.append(
            {
                "workload": name,
                "point": label,
                "metric": trials[0].metric,
                "target": trials[0].target,
                "reached": sum(t.status == "target_reached" for t in trials),
                "seeds": len(trials),
                "steps_to_target": _median(t.steps_to_target for t in trials),
                "time_to_target": _median(t.time_to_target for t in trials),
                "compile_time": compile_time[name],
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
        "# Baseline: reference NAdamW on the offline workloads",
        "",
        "Regenerate with `make reproduce`. Median over seeds; a seed that misses the",
        "target counts as infinity (AlgoPerf's convention), so a median of 'miss' means",
        "most seeds missed. Time to target is training time only (device synchronized,",
        "compilation and evaluation excluded).",
        "",
        "| workload | point | metric | target | reached | steps to target | time to target (s) | compile, once per workload (s) | step budget |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['workload']} | {r['point']} | {r['metric']} | {r['target']:.4f} "
            f"| {r['reached']}/{r['seeds']} | {num(r['steps_to_target'], 'd')} "
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
            "AlgoPerf's rules. `algoperf-lite benchmark` scores a new submission beside these.",
            "Regenerate the experiments with `make reproduce FROM_SCRATCH=1`.",
            "",
            report.markdown(),
            "",
        ]
    )
