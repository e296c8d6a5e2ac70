"""AlgoPerf's tuning rulesets over our runner, in AlgoPerf's directory layout.

* External tuning: ``studies`` studies of ``trials`` trials each. A dict
  space is sampled anew for every study (Halton, seed ``seed + study``); a
  list space (a hyperparameter list) gives the same points, in order, to every
  study. Names the space leaves out take the submission's defaults.
* Self-tuning: no hyperparameters (the submission's defaults), ``studies``
  runs of one trial each, with a step budget of 1.5x the workload's
  ``step_hint`` (AlgoPerf gives self-tuning 1.5x the runtime budget); the
  schedule horizon stays ``step_hint``.

Trial ``i`` of study ``k`` goes to ``<output>/study_<k>/<workload>_jax/trial_<i+1>``
with a training seed derived from ``(seed, k, i)``. Re-running a tuning
command skips finished trials, so a killed study resumes where it stopped.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from algoperf_lite.core import io
from algoperf_lite.core.errors import UserError
from algoperf_lite.core.spec import Submission, Workload
from algoperf_lite.train import loop, planning, records
from algoperf_lite.train.result import TrialResult
from algoperf_lite.tuning import pool, search_space

RULESETS = ("external", "self")
SELF_TUNING_BUDGET = 1.5


def trial_seed(seed: int, study: int, trial: int) -> int:
    return int(np.random.SeedSequence([seed, study, trial]).generate_state(1)[0] % 2**31)


def plan_jobs(
    workload: Workload,
    submission: Submission,
    space=None,
    *,
    ruleset: str = "external",
    trials: int = 5,
    studies: int = 3,
    seed: int = 0,
) -> list[dict]:
    """Every trial of the ruleset as keyword arguments for ``run_trial``."""
    if ruleset not in RULESETS:
        raise UserError(f"unknown ruleset '{ruleset}'; choose one of: {', '.join(RULESETS)}")
    if trials < 1 or studies < 1:
        raise UserError("--trials and --studies must be at least 1")
    if ruleset == "self":
        if space is not None:
            raise UserError("self-tuning takes no search space; drop --search-space")
        max_steps = int(SELF_TUNING_BUDGET * workload.step_hint)
        study_points = [[{}] for _ in range(studies)]
    else:
        if space is None:
            raise UserError(
                f"external tuning needs a search space for '{submission.name}'; "
                "pass --search-space FILE"
            )
        space = search_space.load(space)
        if not submission.open_names:
            search_space.check_names(space, list(submission.hparams), submission.name)
        max_steps = None
        study_points = [search_space.points(space, trials, seed=seed + k) for k in range(studies)]
    jobs = []
    for k, points in enumerate(study_points):
        for i, point in enumerate(points):
            jobs.append(
                dict(
                    hparams=submission.resolve_hparams(point),
                    seed=trial_seed(seed, k, i),
                    max_steps=max_steps,
                    study=k,
                    trial=i + 1,
                )
            )
    return jobs


def tune(
    workloads: list[Workload],
    submission: Submission,
    space=None,
    *,
    output: str,
    ruleset: str = "external",
    trials: int = 5,
    studies: int = 3,
    seed: int = 0,
    progress: bool = True,
    trials_per_step: int | None = None,
    workers: int | None = None,
) -> list[TrialResult]:
    """Run (or finish) a ruleset's studies on each workload, one progress bar for all.

    Each workload's trials are trained as its plan says (``planning``):
    ``trials_per_step`` vmapped together, or ``workers`` processes; by default
    measured, from the study's first trial. Worker processes (``pool``) take
    every trial left in the tune, each from its own place, and the trial locks
    keep any trial from running twice; this process reads their results back,
    so the results are those of one process, only sooner."""
    io.ensure_writable(output)
    study = dict(space=space, ruleset=ruleset, trials=trials, studies=studies, seed=seed)
    total = len(workloads) * (studies if ruleset == "self" else studies * trials)
    bar = tqdm(total=total, desc=f"tuning {submission.name}", unit="trial", disable=not progress)
    runs = [_Study(w, submission, output, plan_jobs(w, submission, **study), bar)
            for w in workloads]  # fmt: skip
    results = []
    for index, run in enumerate(runs):
        chosen = planning.requested_plan(
            run.workload, submission, len(run.jobs), trials_per_step, workers
        )
        if chosen is None:  # the first trial runs alone and measures the rest's plan
            later = [f for r in runs[index + 1 :] for f in r.folders]
            chosen = run.measure(later_trials=sum(not io.is_finished(f) for f in later))
        if chosen.workers > 1:
            results += pool.train(runs[index:], chosen, study)
            break
        results += run.train(chosen)
    bar.close()
    return results


class _Study:
    """One workload's trials of a ruleset, trained by a plan."""

    def __init__(self, workload, submission, output, jobs, bar):
        self.workload, self.submission, self.jobs, self.bar = workload, submission, jobs, bar
        self.output = output
        self.folders = [
            io.trial_dir(output, workload.name, trial=job["trial"], study=f"study_{job['study']}")
            for job in jobs
        ]
        records.add_to_manifest(output, submission, self.folders)
        self.done: dict[int, TrialResult] = {}

    def measure(self, later_trials: int) -> planning.Plan:
        """Run the first trial alone; the plan it measures for the rest of the
        study, and for the tune's ``later_trials``."""
        self.run([0], planning.Plan(why="alone: the study's first trial, measuring"))
        left = [not io.is_finished(f) for f in self.folders]  # the first is done now
        rest = [job for job, todo in zip(self.jobs, left, strict=True) if todo]
        return planning.measured_plan(
            self.workload, self.submission, [job["hparams"] for job in rest],
            [job["seed"] for job in rest], self.done[0], later_trials,
        )  # fmt: skip

    def train(self, chosen, first: int = 0, wait: bool = True) -> list[TrialResult]:
        """Every trial not done yet, by ``chosen``, from trial ``first`` on (then
        those before it); a trial another process is running comes last and is
        read back when it is done, or, unless ``wait``, is left to it."""
        n = len(self.jobs)
        order = [*range(first, n), *range(first)]
        while remaining := [i for i in order if i not in self.done]:
            free = [i for i in remaining if not records.busy(self.folders[i])]
            if not free and not wait:
                break
            self.run((free or remaining)[: chosen.trials_per_step], chosen)
        return [self.done[i] for i in range(n) if i in self.done]

    def run(self, group: list[int], how: planning.Plan) -> None:
        jobs, first = self.jobs, self.jobs[group[0]]
        self.bar.set_postfix_str(
            f"{self.workload.name} study {first['study']} trial {first['trial']}"
        )
        out = loop.run_trials(  # trials_per_step 1: one trial, alone
            self.workload,
            self.submission,
            [jobs[i]["hparams"] for i in group],
            [jobs[i]["seed"] for i in group],
            max_steps=first["max_steps"],
            output_dirs=[self.folders[i] for i in group],
            mesh=how.mesh,
            size=how.trials_per_step,
            plan=how.to_json(),
        )
        self.done.update(zip(group, out, strict=True))
        self.bar.update(len(group))


def work(job: dict) -> None:
    """A pool worker's share of a tune (``pool.start`` describes ``job``): every
    workload from its own place in the list, every study's trials from its own
    place, leaving the trials another worker is running."""
    from algoperf_lite.core import cpu
    from algoperf_lite.loading import load_submission
    from workloads import get_workload  # JAX starts on one core here

    cpu.pin_threads(job["core"])
    submission = load_submission(job["submission"])
    plan = planning.Plan.from_json(job["plan"])
    study = {k: job[k] for k in ("space", "ruleset", "trials", "studies", "seed")}
    workloads = [get_workload(n) for n in job["workloads"]]
    shift = plan.worker * len(workloads) // plan.workers
    quiet = tqdm(disable=True)
    for w in workloads[shift:] + workloads[:shift]:
        run = _Study(w, submission, job["output"], plan_jobs(w, submission, **study), quiet)
        run.train(plan, first=plan.worker * len(run.jobs) // plan.workers, wait=False)


if __name__ == "__main__":  # a pool worker (``pool.start``)
    import json
    import sys

    from algoperf_lite.core import compiles

    job = json.loads(sys.argv[1])
    pool.die_with_parent()
    compiles.use_persistent_cache(job["cache"])  # the starter's: workers share compiled programs
    if job["space"] is not None and job["space"].lstrip().startswith(("{", "[")):
        job["space"] = json.loads(job["space"])
    work(job)
