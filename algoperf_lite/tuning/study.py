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

import dataclasses
import json

import numpy as np
from tqdm import tqdm

from algoperf_lite.core import io
from algoperf_lite.core.errors import UserError
from algoperf_lite.core.spec import Submission, Workload
from algoperf_lite.train import loop, planning, records
from algoperf_lite.train.result import TrialResult
from algoperf_lite.tuning import search_space

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
    worker_index: int = 0,
    plan: planning.Plan | None = None,
) -> list[TrialResult]:
    """Run (or finish) a ruleset's studies on each workload, one progress bar for all.

    Each workload's trials are trained as its plan says (``planning``):
    ``trials_per_step`` vmapped together, or ``workers`` processes sharing
    one-at-a-time trials; by default measured, from the study's first trial.
    Worker processes (``start_helpers``) each take the trials from their own
    place in the list, and the trial locks keep any trial from running twice,
    so the results are those of one process, only sooner. ``plan`` (a helper's)
    fixes the plan of every workload."""
    io.ensure_writable(output)
    results = []
    total = len(workloads) * (studies if ruleset == "self" else studies * trials)
    bar = tqdm(total=total, desc=f"tuning {submission.name}", unit="trial", disable=not progress)
    study = dict(space=space, ruleset=ruleset, trials=trials, studies=studies, seed=seed)
    for w in workloads:
        jobs = plan_jobs(w, submission, **study)
        chosen = plan or planning.requested_plan(w, submission, len(jobs), trials_per_step, workers)
        run = _Study(w, submission, output, jobs, bar)
        results += run.train(chosen, worker_index, study)
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

    def train(self, chosen, worker_index: int, study: dict) -> list[TrialResult]:
        """Every trial, by ``chosen`` (None: measured from the first trial)."""
        jobs = self.jobs
        start = worker_index * len(jobs) // max(chosen.workers if chosen else 1, 1)
        remaining = [*range(start, len(jobs)), *range(start)]
        if chosen is None:  # the first trial runs alone and measures the rest's plan
            self.run(remaining[:1], planning.Plan(why="alone: the study's first trial, measuring"))
            rest = remaining[1:]
            chosen = planning.measured_plan(
                self.workload, self.submission, [jobs[i]["hparams"] for i in rest],
                [jobs[i]["seed"] for i in rest], self.done[remaining[0]],
            )  # fmt: skip
        helpers = []
        if worker_index == 0 and chosen.workers > 1:
            helpers = start_helpers([self.workload], self.submission, self.output, chosen, study)
            if not helpers:  # said in the results: one process trained them all
                why = f"{chosen.why}; no helper can rebuild this study, so one process"
                chosen = dataclasses.replace(chosen, workers=1, why=why)
        while remaining := [i for i in remaining if i not in self.done]:
            # Trials another process is running now come last (then they are read back).
            free = [i for i in remaining if not records.busy(self.folders[i])] or remaining
            self.run(free[: chosen.trials_per_step], chosen)
        for helper in helpers:  # each has only finished trials left to read back
            if helper.wait() != 0:  # harmless: this process ran whatever it left
                print(f"a tuning helper process exited with status {helper.returncode}")
        return [self.done[i] for i in range(len(jobs))]

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


def start_helpers(workloads, submission, output, plan: planning.Plan, study: dict):
    """Start ``plan.workers - 1`` helper processes on the same study, where they
    can rebuild it: registered workloads and a submission file. Else none."""
    import subprocess
    import sys

    from workloads import WORKLOADS

    if any(WORKLOADS.get(w.name) != w for w in workloads) or submission.api is not None:
        return []
    space = study["space"]
    if space is not None and not isinstance(space, str):
        space = json.dumps(space)
    job = dict(
        workloads=[w.name for w in workloads], submission=submission.source, output=output,
        plan=plan.to_json(), **{**study, "space": space},
    )  # fmt: skip
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "algoperf_lite.tuning.study",
                json.dumps({**job, "worker_index": i}),
            ],
            # Not piped: a helper's output can outgrow a pipe nobody reads yet.
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        for i in range(1, plan.workers)
    ]


def _die_with_parent():
    """A helper dies with the process that started it (Linux), so a killed tune
    leaves no trials running behind it; their locks go with them."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _helper(job: dict) -> None:
    from algoperf_lite.loading import load_submission
    from workloads import get_workload

    space = job["space"]
    if space is not None and space.lstrip().startswith(("{", "[")):
        space = json.loads(space)
    tune(
        [get_workload(n) for n in job["workloads"]], load_submission(job["submission"]), space,
        output=job["output"], ruleset=job["ruleset"], trials=job["trials"],
        studies=job["studies"], seed=job["seed"], progress=False,
        worker_index=job["worker_index"], plan=planning.Plan.from_json(job["plan"]),
    )  # fmt: skip


if __name__ == "__main__":
    import sys

    _helper(json.loads(sys.argv[1]))
