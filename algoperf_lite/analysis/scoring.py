"""AlgoPerf's scoring: time to target, performance profiles, benchmark score.

Per workload and submission: each trial's time is the first evaluation whose
validation metric reaches the target (``<=`` for minimized metrics); a
study's time is its fastest trial (the minimum over *times*, not over trial
names as AlgoPerf's own code once did); the workload's time is the median over
studies; a miss is infinity. Across submissions, each time is divided by the
fastest on that workload, ratios above ``max_tau`` (4) drop out,
``rho(tau)`` is the share of workloads with ratio <= tau on 100 points from
1 to 4, and the benchmark score is the area under ``rho`` divided by 3, in [0, 1].

Experiment folders are ``<dir>/study_<k>/<workload>_jax/trial_<i>/eval_measurements.csv``
(a folder without a study level counts as one study). Targets come from our
``result.json``, else from the workload registry, else from a ``--targets``
JSON file ``{workload: {"metric": "validation/accuracy", "target": 0.97}}``,
which is how AlgoPerf's own experiment folders are scored.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re

import numpy as np

from algoperf_lite.core import io
from algoperf_lite.core.errors import UserError
from algoperf_lite.train import records

TIME_COLUMNS = {"steps": ("global_step",), "seconds": ("accumulated_submission_time", "score")}
MINIMIZED = ("loss", "error_rate", "wer", "ctc_loss", "l1_loss", "ce_loss")
MAX_TAU = 4.0
NUM_TAUS = 100
_WORKLOAD_DIR = re.compile(r"^(.*)_(jax|pytorch)$")


@dataclasses.dataclass(frozen=True)
class Target:
    metric: str  # an eval_measurements.csv column, e.g. "validation/accuracy"
    value: float
    higher_is_better: bool


def direction(metric: str) -> bool:
    """AlgoPerf's convention: losses and error rates are minimized."""
    return not metric.split("/")[-1].endswith(MINIMIZED)


def _target(workload: str, trial_dirs: list[str], targets: dict | None) -> Target:
    """The target to score against: a ``--targets`` file's, else the registry's,
    else the one the trials ran against (their result.json)."""
    if targets and workload in targets:
        entry = targets[workload]
        return Target(entry["metric"], float(entry["target"]), direction(entry["metric"]))
    from workloads import WORKLOADS

    if workload in WORKLOADS and WORKLOADS[workload].validation_target is not None:
        w = WORKLOADS[workload]
        return Target(w.metric_column, w.validation_target, w.higher_is_better)
    for folder in trial_dirs:
        path = os.path.join(folder, io.RESULT_FILE)
        if os.path.exists(path):
            stored = _read_json(path)
            if isinstance(stored, dict) and stored.get("target") is not None:
                metric = stored["metric"]
                return Target(metric, float(stored["target"]), direction(metric))
    raise UserError(
        f"no target known for workload '{workload}'; pass --targets FILE with "
        f'{{"{workload}": {{"metric": "validation/...", "target": ...}}}}'
    )


def read_targets(path: str) -> dict:
    """``{workload: {"metric": column, "target": value}}`` from a JSON file, checked."""
    targets = _read_json(path)
    ok = isinstance(targets, dict) and all(
        isinstance(v, dict)
        and isinstance(v.get("metric"), str)
        and v["metric"].startswith("validation/")
        and isinstance(v.get("target"), (int, float))
        and not isinstance(v.get("target"), bool)
        and math.isfinite(v["target"])
        for v in targets.values()
    )
    if not ok:
        raise UserError(
            f'{path} must map each workload to {{"metric": "validation/...", "target": number}}'
        )
    return targets


def _read_json(path: str):
    try:
        return io.read_json(path)
    except (OSError, ValueError) as e:  # ValueError: bad JSON or not UTF-8
        reason = "not UTF-8" if isinstance(e, UnicodeDecodeError) else e
        raise UserError(f"cannot read {path}: {reason}; remove or repair the file") from None


def read_rows(path: str) -> list[dict]:
    """The rows of an ``eval_measurements.csv``, refusing a damaged file."""
    try:
        with open(path, newline="") as f:
            text = f.read()
        rows = list(csv.DictReader(text.splitlines()))
    except FileNotFoundError:
        raise UserError(f"{path} is missing; rerun that trial") from None
    except (OSError, csv.Error, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}; remove or repair the file") from None
    if text and not text.endswith("\n"):
        raise UserError(f"{path} is truncated (its last line is incomplete); rerun that trial")
    if any(None in row or None in row.values() for row in rows):
        raise UserError(f"{path} has rows with a wrong number of fields; rerun that trial")
    return rows


def trial_time(path: str, target: Target, time: str = "steps") -> float:
    """Time column at the first evaluation that reaches the target; inf if none."""
    rows = read_rows(path)
    if not rows:
        return math.inf
    time_column = next((c for c in TIME_COLUMNS[time] if c in rows[0]), None)
    for column in (target.metric, time_column):
        if column is None or column not in rows[0]:
            missing = column or "/".join(TIME_COLUMNS[time])
            raise UserError(f"{path} has no '{missing}' column; it is not an eval_measurements.csv")
    try:  # the whole file must parse: a damaged later row means a damaged file
        series = [(float(r[target.metric]), float(r[time_column])) for r in rows]
        steps = [float(r["global_step"]) for r in rows]
    except (TypeError, ValueError, KeyError):
        raise UserError(
            f"{path}: non-numeric value in '{target.metric}', '{time_column}' or "
            "'global_step'; remove or repair the file"
        ) from None
    times = [at for _, at in series]
    finite = all(map(math.isfinite, steps + times))
    increasing = all(a < b for a, b in zip(steps, steps[1:], strict=False)) and all(
        a <= b for a, b in zip(times, times[1:], strict=False)
    )
    if not (finite and increasing):
        raise UserError(
            f"{path}: 'global_step' or '{time_column}' is not finite and increasing; "
            "remove or repair the file"
        )
    for value, at in series:
        reached = value >= target.value if target.higher_is_better else value <= target.value
        if reached and math.isfinite(value):
            return at
    return math.inf


@dataclasses.dataclass
class Experiment:
    """One submission's results: per workload, each study's time (its fastest
    trial) and how many of its trials reached the target."""

    studies: dict[str, list[float]]
    reached: dict[str, tuple[int, int]]  # workload -> (trials that reached, trials)

    def times(self) -> dict[str, float]:
        """The workload's time: the median over studies (AlgoPerf's rule)."""
        return {w: float(np.median(v)) for w, v in self.studies.items()}


def read_experiment(  # noqa: C901  (still to split)
    experiment: str,
    time: str = "steps",
    targets: dict | None = None,
    seen: dict | None = None,
    verify: bool = True,
    allow_mixed: bool = False,
) -> Experiment:
    """Study times and reached counts of one experiment folder.

    With ``verify`` (the default) every trial is cross-checked against its
    ``result.json`` and the experiment's manifest (see ``records``); without
    it, the CSVs are taken as they are (AlgoPerf's own folders). ``seen``
    collects, per workload, the (definition hash, target) of every trial with
    a ``result.json``, so that mixed definitions can be refused."""
    if not os.path.isdir(experiment):
        raise UserError(f"experiment folder not found: {experiment}")
    seen = {} if seen is None else seen
    folders = records.trial_folders(experiment)
    ours = verify or any(os.path.exists(os.path.join(t, io.RESULT_FILE)) for t in folders)
    manifest = records.read_manifest(experiment) if verify else None
    stored = {t: _finished(t) if ours else None for t in folders}
    if verify:
        records.check_launched(experiment, manifest, folders)
    per_workload: dict[str, list[float]] = {}
    reached: dict[str, tuple[int, int]] = {}
    by_study: dict[tuple[str, str], list[str]] = {}
    for t in folders:
        study, wdir = os.path.dirname(os.path.dirname(t)), os.path.dirname(t)
        match = _WORKLOAD_DIR.match(os.path.basename(wdir))
        if match:
            by_study.setdefault((study, match.group(1)), []).append(t)
    for (_, workload), trials in sorted(by_study.items()):
        target = _target(workload, trials, targets)
        times = []
        for t in trials:
            path = os.path.join(t, io.MEASUREMENTS_FILE)
            result = stored[t]
            if result is not None:
                key = (result.get("workload_hash", ""), result.get("target"))
                seen.setdefault(workload, {}).setdefault(key, t)
            if verify:
                _check_against_registry(t, workload, result, allow_mixed or targets is not None)
                records.verify_trial(
                    t,
                    result,
                    manifest,
                    read_rows(path),
                    direction(result.get("metric", "")),
                    check_status=not allow_mixed,
                )
            if os.path.exists(path) or verify:
                times.append(trial_time(path, target, time))
        per_workload.setdefault(workload, []).append(min(times, default=math.inf))
        hits, total = reached.get(workload, (0, 0))
        reached[workload] = (hits + sum(map(math.isfinite, times)), total + len(trials))
    if not per_workload:
        raise UserError(
            f"{experiment} holds no <workload>_jax/trial_<i> folders; "
            "pass an experiment folder written by 'algoperf-lite tune' or AlgoPerf"
        )
    return Experiment(per_workload, reached)


def _finished(trial: str) -> dict:
    """A trial's result.json, refusing an unfinished trial."""
    result = records.read_result(trial)
    if result is None or result.get("status") == io.RUNNING:
        raise UserError(
            f"{trial} is unfinished; rerun the same tune command to finish it before scoring"
        )
    return result


def _check_against_registry(trial: str, workload: str, result: dict, allow_mixed: bool) -> None:
    """A registered workload's trials must have run against its current target and budget."""
    from workloads import WORKLOADS

    w = WORKLOADS.get(workload)
    if w is None or allow_mixed:
        return
    ran = (result.get("target"), result.get("step_hint"))
    if ran != (w.validation_target, w.step_hint):
        raise UserError(
            f"{trial} ran against different workload definitions or targets than the "
            f"registry's (target {ran[0]}, step_hint {ran[1]}; now {w.validation_target}, "
            f"{w.step_hint}); rerun it, or pass --allow-mixed"
        )


def experiment_times(
    experiment: str, time: str = "steps", targets: dict | None = None, seen: dict | None = None
) -> dict[str, float]:
    """{workload: median over studies of the fastest trial's time} for one folder."""
    return read_experiment(experiment, time, targets, seen).times()


def performance_profiles(times: dict[str, dict[str, float]], max_tau: float = MAX_TAU):
    """taus and {submission: rho(tau)} over the union of workloads."""
    workloads = sorted(set().union(*(t.keys() for t in times.values())))
    table = np.array([[times[s].get(w, math.inf) for w in workloads] for s in times])
    best = table.min(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.where(np.isfinite(best), table / best, math.inf)
    ratios = np.where(ratios > max_tau, math.inf, ratios)
    taus = np.linspace(1.0, max_tau, NUM_TAUS)
    rho = {s: (ratios[i][None, :] <= taus[:, None]).mean(axis=1) for i, s in enumerate(times)}
    return taus, rho, workloads


def benchmark_score(taus, rho) -> float:
    return float(np.trapezoid(rho, taus) / (taus[-1] - taus[0]))


def scores_of(times: dict[str, dict[str, float]]) -> dict[str, float]:
    taus, profiles, _ = performance_profiles(times)
    return {s: benchmark_score(taus, rho) for s, rho in profiles.items()}


BOOTSTRAP_DRAWS = 2000
LEVEL = 0.95


def bootstrap_scores(
    experiments: dict[str, Experiment], draws: int = BOOTSTRAP_DRAWS, seed: int = 0
) -> dict[str, np.ndarray]:
    """Each submission's score in ``draws`` resamplings of its studies.

    In each draw, every workload's studies are drawn with replacement and the
    workload's time is the median of the drawn studies; the whole table is then
    scored as usual. Submissions with the same number of studies on a workload
    share the drawn study indices (study k of every submission used the same
    trial seeds), so differences between them are paired."""
    rng = np.random.default_rng(seed)
    names = list(experiments)
    workloads = sorted(set().union(*(e.studies for e in experiments.values())))
    out = {n: np.empty(draws) for n in names}
    for d in range(draws):
        picks: dict[int, np.ndarray] = {}  # number of studies -> drawn indices
        times = {n: {} for n in names}
        for w in workloads:
            picks.clear()
            for n in names:
                studies = experiments[n].studies.get(w)
                if not studies:
                    continue
                k = len(studies)
                if k not in picks:
                    picks[k] = rng.integers(0, k, size=k)
                times[n][w] = float(np.median(np.asarray(studies)[picks[k]]))
        for n, value in scores_of(times).items():
            out[n][d] = value
    return out


def interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def verdict(difference: np.ndarray, level: float = LEVEL) -> str:
    """better / worse when the paired interval of the score difference excludes 0."""
    lo, hi = interval(difference, level)
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "not distinguishable"


VERDICT_TEST = (
    "paired bootstrap over studies within workloads: the 95% interval of the score "
    f"difference in {BOOTSTRAP_DRAWS} draws; better or worse when it excludes 0"
)


@dataclasses.dataclass
class Report:
    time: str
    workloads: list[str]
    times: dict[str, dict[str, float]]
    scores: dict[str, float]
    taus: np.ndarray
    profiles: dict[str, np.ndarray]
    intervals: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    # submission -> other -> {"verdict", "difference", "interval"}
    verdicts: dict[str, dict[str, dict]] = dataclasses.field(default_factory=dict)
    reached: dict[str, dict[str, tuple[int, int]]] = dataclasses.field(default_factory=dict)
    studies: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        def clean(v):
            return v if math.isfinite(v) else None

        return {
            "scores": self.scores,
            "intervals": {s: list(v) for s, v in self.intervals.items()},
            "interval_level": LEVEL,
            "verdicts": self.verdicts,
            "verdict_test": VERDICT_TEST,
            "times": {s: {w: clean(v) for w, v in t.items()} for s, t in self.times.items()},
            "reached": {
                s: {w: {"reached": a, "trials": b} for w, (a, b) in r.items()}
                for s, r in self.reached.items()
            },
            "studies": self.studies,
        }

    def markdown(self) -> str:
        unit = "steps" if self.time == "steps" else "s"
        head = "| submission | score | 95% interval | " + " | ".join(self.workloads) + " |"
        lines = [head, "|---" * (len(self.workloads) + 3) + "|"]
        for s, score in sorted(self.scores.items(), key=lambda kv: -kv[1]):
            cells = [
                "miss" if not math.isfinite(t) else (f"{t:.0f}" if unit == "steps" else f"{t:.2f}")
                for t in (self.times[s].get(w, math.inf) for w in self.workloads)
            ]
            lo, hi = self.intervals.get(s, (math.nan, math.nan))
            lines.append(f"| {s} | {score:.3f} | {lo:.3f}-{hi:.3f} | " + " | ".join(cells) + " |")
        note = (
            f"Time to target in {unit} (median over studies of the best trial); miss = inf. "
            f"Intervals: {BOOTSTRAP_DRAWS} bootstrap resamplings of the studies within each "
            "workload."
        )
        return "\n".join(lines + ["", note] + self.verdict_lines())

    def verdict_lines(self, subject: str | None = None) -> list[str]:
        """The verdicts of ``subject`` (default: the first submission) against the others."""
        subject = subject or next(iter(self.verdicts), None)
        if subject is None or not self.verdicts.get(subject):
            return []
        lines = ["", f"{subject} against each other submission ({VERDICT_TEST}):", ""]
        for other, v in self.verdicts[subject].items():
            lo, hi = v["interval"]
            relation = (
                "not distinguishable from" if v["verdict"][0] == "n" else v["verdict"] + " than"
            )
            lines.append(
                f"- {relation} {other}: score difference {v['difference']:+.3f} "
                f"({lo:+.3f} to {hi:+.3f})"
            )
        return lines

    def reached_markdown(self) -> str:
        """Per workload and submission, the share of trials that reached the target."""
        head = "| submission | " + " | ".join(self.workloads) + " |"
        lines = [head, "|---" * (len(self.workloads) + 1) + "|"]
        for s in sorted(self.scores, key=lambda k: -self.scores[k]):
            cells = []
            for w in self.workloads:
                a, b = self.reached.get(s, {}).get(w, (0, 0))
                cells.append(f"{a}/{b}" if b else "-")
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def write(self, folder: str) -> list[str]:
        """scores.md, times.csv and performance_profile.png in ``folder``."""
        io.ensure_writable(folder)
        io.write_atomic(os.path.join(folder, "scores.md"), self.markdown() + "\n")
        rows = [
            {"submission": s, **{w: t.get(w, math.inf) for w in self.workloads}}
            for s, t in self.times.items()
        ]
        io.write_csv(os.path.join(folder, "times.csv"), rows)
        plot = os.path.join(folder, "performance_profile.png")
        plot_profiles(self, plot)
        return [os.path.join(folder, f) for f in ("scores.md", "times.csv")] + [plot]


def plot_profiles(report: Report, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for s, rho in report.profiles.items():
        ax.step(report.taus, rho, where="post", label=f"{s} ({report.scores[s]:.3f})")
    ax.set_xlabel(f"ratio of {report.time} to target to the best submission (tau)")
    ax.set_ylabel("share of workloads")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Performance profiles (score = normalized area)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def score(
    experiments: dict[str, str],
    time: str = "steps",
    targets: dict | None = None,
    allow_mixed: bool = False,
    verify: bool = True,
) -> Report:
    """Score ``{submission name: experiment folder}`` against each other.

    Trials run against different definitions of a workload (its source,
    budget or targets changed in between) are refused unless ``allow_mixed``.
    ``verify=False`` scores folders without our records (AlgoPerf's own): the
    CSVs are then taken as they are."""
    if time not in TIME_COLUMNS:
        raise UserError(f"--time must be one of {', '.join(TIME_COLUMNS)}, got '{time}'")
    seen: dict = {}
    read = {
        n: read_experiment(p, time, targets, seen, verify, allow_mixed)
        for n, p in experiments.items()
    }
    times = {n: e.times() for n, e in read.items()}
    for workload, versions in seen.items():
        if len(versions) > 1 and not allow_mixed:
            a, b = list(versions.values())[:2]
            raise UserError(
                f"results for '{workload}' come from different workload definitions or "
                f"targets ({a} and {b}); rerun one side or pass --allow-mixed"
            )
    taus, profiles, workloads = performance_profiles(times)
    scores = {s: benchmark_score(taus, rho) for s, rho in profiles.items()}
    draws = bootstrap_scores(read)
    verdicts = {
        s: {
            o: {
                "verdict": verdict(draws[s] - draws[o]),
                "difference": scores[s] - scores[o],
                "interval": list(interval(draws[s] - draws[o])),
            }
            for o in read
            if o != s
        }
        for s in read
    }
    return Report(
        time,
        workloads,
        times,
        scores,
        taus,
        profiles,
        intervals={s: interval(d) for s, d in draws.items()},
        verdicts=verdicts,
        reached={s: e.reached for s, e in read.items()},
        studies={s: {w: len(v) for w, v in e.studies.items()} for s, e in read.items()},
    )
