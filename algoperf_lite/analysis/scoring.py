"""AlgoPerf's scoring: time to target, performance profiles, benchmark score.

Per workload and submission: each trial's time is the first evaluation whose
validation metric reaches the target (``<=`` for minimized metrics); a
study's time is its fastest trial (the minimum over *times*, not over trial
names as AlgoPerf's own code once did); the workload's time is the median over
studies; a miss is infinity. Across submissions, each time is divided by the
fastest on that workload, ratios above ``max_tau`` (4) drop out,
``rho(tau)`` is the share of workloads with ratio <= tau on 100 points from
1 to 4, and the benchmark score is the area under ``rho`` divided by 3, in [0, 1].

Experiment folders are read by :mod:`.experiments`.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from algoperf_lite.analysis.experiments import TIME_COLUMNS, Experiment, read_experiment
from algoperf_lite.core import io
from algoperf_lite.core.errors import UserError

MAX_TAU = 4.0
NUM_TAUS = 100


def performance_profiles(times: dict[str, dict[str, float]], max_tau: float = MAX_TAU):
    """taus and {submission: rho(tau)} over the union of workloads."""
    workloads = sorted(set().union(*(t.keys() for t in times.values())))
    table = np.array([[times[s].get(w, math.inf) for w in workloads] for s in times])
    taus, rho = _profiles(table, max_tau)
    return taus, dict(zip(times, rho, strict=True)), workloads


def _profiles(table: np.ndarray, max_tau: float = MAX_TAU):
    """taus and rho(tau) of a table of times [..., submission, workload]:
    [..., submission, tau]."""
    best = table.min(axis=-2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.where(np.isfinite(best), table / best, math.inf)
    ratios = np.where(ratios > max_tau, math.inf, ratios)
    taus = np.linspace(1.0, max_tau, NUM_TAUS)
    return taus, (ratios[..., None, :] <= taus[:, None]).mean(axis=-1)


def benchmark_score(taus, rho) -> float:
    return float(_areas(taus, rho))


def _areas(taus, rho):
    return np.trapezoid(rho, taus, axis=-1) / (taus[-1] - taus[0])


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
    sizes = {  # per workload, its numbers of studies, in the order submissions show them
        w: list(dict.fromkeys(len(s) for n in names if (s := experiments[n].studies.get(w))))
        for w in workloads
    }
    picks = {(w, k): np.empty((draws, k), int) for w in workloads for k in sizes[w]}
    for d in range(draws):  # drawn in this order, one draw after another
        for w in workloads:
            for k in sizes[w]:
                picks[w, k][d] = rng.integers(0, k, size=k)
    table = np.full((draws, len(names), len(workloads)), math.inf)
    for i, n in enumerate(names):
        for j, w in enumerate(workloads):
            studies = experiments[n].studies.get(w)
            if studies:
                drawn = np.asarray(studies, float)[picks[w, len(studies)]]
                table[:, i, j] = np.median(drawn, axis=1)
    scores = _areas(*_profiles(table))
    return {n: scores[:, i] for i, n in enumerate(names)}


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
