"""How to train a study's trials: one at a time, as the vmapped lanes of one
compiled step (see ``loop.run_trials``, which trains a group), or by worker
processes, one per CPU core, that share every trial left in the tune
(``tuning.pool``); and how many trials to train together in sweeps.

A study's plan is measured (``measured_plan``): its first trial runs alone,
and its training rate decides the rest. Worker processes pay on a CPU where
the trials left outlast a worker's start: XLA:CPU's threads mostly wait on
models this small, so a process that starts JAX seeing one core
(``core.cpu``, as every training process here does) trains about as fast as
one that sees every core, and P of them train about P trials at once. Lanes
are timed (a short burst of the vmapped step) where the time they could save
exceeds the cost of compiling them. The choice and its measurements go into
every trial's ``result.json`` (``plan``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import jax

from algoperf_lite.core import cpu
from algoperf_lite.core.errors import UserError
from algoperf_lite.core.spec import Submission, Workload
from algoperf_lite.train.group import Group, traced_names
from algoperf_lite.train.loop import run_trial, run_trials
from algoperf_lite.train.program import compiled_program, step_bytes, trial_mesh, vector_program

MAX_TRIALS_PER_STEP = 16
MEMORY_SHARE = 0.5  # of the free device (or host) memory a group may use
MIN_GAIN = 1.1  # a plan other than one at a time must be this much faster
BURST_SECONDS = 0.2  # of the vmapped step, to time lanes
PROCESS_START_SECONDS = 5.0  # a worker's imports, data and first compilations
WORKER_BYTES = 2 * 2**30  # host memory a worker process may take (peak, with room)
# Lanes are timed only where the most they could save is this many times the
# cost of compiling them (on a CPU they seldom reach that bound).
LANES_PAYBACK = 3.0


@dataclasses.dataclass
class Plan:
    """How a study's trials are trained, why, and what was measured to decide."""

    trials_per_step: int = 1
    workers: int = 1
    why: str = "one trial at a time"
    measured: dict = dataclasses.field(default_factory=dict)
    mesh: Any = None
    worker: int | None = None  # which of the ``workers`` processes trained the trial

    def to_json(self) -> dict:
        measured = {k: round(v, 4) if isinstance(v, float) else v for k, v in self.measured.items()}
        out = {
            "trials_per_step": self.trials_per_step,
            "workers": self.workers,
            "why": self.why,
            "measured": measured,
        }
        return out if self.worker is None else {**out, "worker": self.worker}

    @classmethod
    def from_json(cls, data: dict) -> Plan:
        return cls(
            data["trials_per_step"], data["workers"], data["why"], data["measured"],
            worker=data.get("worker"),
        )  # fmt: skip


def cores() -> int:
    """CPU cores this process may run on."""
    return len(cpu.cores())


def pool_size(trials: int) -> int:
    """Worker processes for ``trials`` trials: on a CPU, where this process
    computes as they do, as if on one core (``cpu.start_on_one_core``: the
    same numbers whatever the plan), one per core, as many as the host memory
    holds; elsewhere one (processes would share one accelerator: lanes fill it)."""
    if jax.default_backend() != "cpu" or not cpu.on_one_core():
        return 1
    return max(1, min(cores(), trials, _free_memory() // WORKER_BYTES))


def core_sets(workers: int) -> list[int | None]:
    """The core each of ``workers`` processes keeps its threads on (one each),
    or None each where there are fewer cores."""
    mine = cpu.cores()
    return mine[:workers] if workers <= len(mine) else [None] * workers


def requested_plan(
    workload, submission, num_trials: int, trials_per_step: int | None, workers: int | None
) -> Plan | None:
    """The plan the user asked for (``--trials-per-step``, ``--workers``), the
    plan of a study with nothing to measure, or None: measure it."""
    if trials_per_step is not None and workers not in (None, 1) and trials_per_step > 1:
        raise UserError("choose --trials-per-step or --workers, not both")
    if trials_per_step is not None:
        k, mesh = plan(workload, submission, num_trials, trials_per_step)
        return Plan(k, 1, "requested (--trials-per-step)", mesh=mesh)
    if workers is not None:
        return Plan(1, workers, "requested (--workers)")
    if submission.api is not None:
        return Plan(1, 1, "AlgoPerf-API files train one trial at a time")
    if num_trials < 2:
        return Plan(1, 1, "one trial")
    return None


def measured_plan(workload, submission, points, seeds, first, later_trials: int = 0) -> Plan:
    """The plan for a study's ``len(points)`` remaining trials, and the
    ``later_trials`` of the tune's later studies, from its first trial
    (``first``, a TrialResult that ran alone): its training steps per second,
    its seconds of training and evaluation, and the CPU cores busy meanwhile.

    Candidates: one at a time; ``P`` worker processes (``pool_size``), one
    core each, which take every trial left in the tune (gain P, worth it where
    the trials left, if each costs what the first did, outlast a worker's
    start by ``1 / (1 - 1/P)``); and K vmapped lanes, timed on a burst of
    their step where the time they could save is ``LANES_PAYBACK`` times the
    cost of compiling them (what lanes can gain is bounded by the busy cores on
    a CPU, not on an accelerator). The fastest wins, by ``MIN_GAIN``."""
    remaining = len(points)
    if first.plan is not None and first.plan.get("trials_per_step", 1) > 1:
        return Plan(1, 1, "one trial at a time: the first trial did not run alone")
    if not first.steps or not first.submission_time_sec or first.cores_busy is None:
        return Plan(1, 1, "one trial at a time: the first trial measured nothing to plan by")
    rate = first.steps / first.submission_time_sec
    busy = max(first.cores_busy, 1e-3)
    study_seconds = remaining * workload.step_hint / rate  # alone, if every trial runs out
    tune_seconds = (remaining + later_trials) * (first.submission_time_sec + first.eval_time_sec)
    measured = {
        "first_trial_steps_per_second": rate,
        "cores_busy": first.cores_busy,
        "cores": cores(),
        "study_seconds_alone": study_seconds,
        "tune_seconds_alone": tune_seconds,
    }
    gains = {"one": 1.0}
    workers = pool_size(remaining + later_trials)
    if workers > 1 and tune_seconds * (1 - 1 / workers) > PROCESS_START_SECONDS:
        gains["processes"] = workers
    compile_seconds = _compile_seconds(workload, submission, first.hparams)
    accelerator = jax.default_backend() != "cpu"
    bound = MAX_TRIALS_PER_STEP if accelerator else cores() / busy
    if study_seconds * (1 - 1 / bound) > LANES_PAYBACK * compile_seconds:
        k, gain, lanes_compile = _lanes_gain(workload, submission, points, seeds, rate)
        measured.update(lanes=k, lanes_gain=gain, lanes_compile_seconds=lanes_compile)
        gains["lanes"] = gain
    best = max(gains, key=gains.get)
    if best == "one" or gains[best] < MIN_GAIN:
        return Plan(1, 1, "one trial at a time: no other plan measured faster", measured)
    if best == "processes":
        left = f"{remaining + later_trials} trials, about {tune_seconds:.0f} s alone"
        return Plan(1, workers, f"{workers} worker processes: {left}", measured)
    k = measured["lanes"]
    why = f"{k} vmapped lanes: {gains['lanes']:.2f}x the trial-steps per second of one trial"
    return Plan(k, 1, why, measured, mesh=_mesh_for(k))


def _compile_seconds(workload, submission, hp) -> float:
    """What compiling the program of a trial with hyperparameters ``hp`` took
    (the first trial's: cached by now, so nothing compiles here)."""
    names = traced_names(hp)
    program, _ = compiled_program(workload, submission, names, submission.batch_size(workload))
    return program.compile_seconds


def _mesh_for(k: int):
    devices = jax.local_device_count()
    return trial_mesh() if devices > 1 and k > 1 else None


def _lanes_gain(workload, submission, points, seeds, rate: float) -> tuple[int, float, float]:
    """(K, trial-steps per second of K vmapped lanes over one trial's, seconds
    compiling them), both timed alike: bursts of about ``BURST_SECONDS`` of the
    step, one trial's (already compiled) and the vmapped one's."""
    if jax.default_backend() == "cpu" and jax.local_device_count() == 1:
        k, mesh = min(len(points), MAX_TRIALS_PER_STEP), None  # host memory: no halving
    else:
        k, mesh = plan(workload, submission, len(points))
    if k < 2:
        return k, 1.0, 0.0
    hps = [submission.resolve_hparams(p) for p in points[:k]]
    alone = Group.build(workload, submission, hps[:1], list(seeds[:1]), False, None, None, 1)
    lanes = Group.build(workload, submission, hps, list(seeds[:k]), True, None, mesh, k)
    if lanes.state is None:  # out of memory
        return k, 0.0, 0.0
    n = max(10, int(BURST_SECONDS * rate / k))
    gain = k * _steps_per_second(lanes, n) / _steps_per_second(alone, n)
    return k, gain, lanes.compile_seconds if lanes.compiled else 0.0


def _steps_per_second(group: Group, n: int) -> float:
    """Steps per second of ``n`` steps of ``group`` from its fresh state, after a warm-up."""
    state, _ = group.advance(group.state, 0, 10)
    jax.block_until_ready(state)
    tic = time.perf_counter()
    state, _ = group.advance(state, 10, 10 + n)
    jax.block_until_ready(state)
    return n / (time.perf_counter() - tic)


def plan(
    workload: Workload, submission: Submission, num_trials: int, requested: int | None = None
) -> tuple[int, jax.sharding.Mesh | None]:
    """How many trials to train per compiled step, and the devices they spread
    over, without measuring (sweeps; a study measures, see ``measured_plan``).

    One at a time on a single CPU, where a vmapped step costs about as much as
    its K single steps (results/speed.md). Otherwise up to
    ``MAX_TRIALS_PER_STEP`` per device, over every local device, halved while
    the compiled group's memory exceeds ``MEMORY_SHARE`` of the free memory.
    The compiled group is cached, so planning costs no extra compilation.
    ``requested`` trials per step (e.g. from ``--trials-per-step``) overrides K."""
    devices = jax.local_device_count()
    if requested is not None:
        return requested, trial_mesh() if devices > 1 and requested > 1 else None
    single_cpu = jax.default_backend() == "cpu" and devices == 1
    if submission.api is not None or num_trials < 2 or single_cpu:
        return 1, None
    mesh = trial_mesh() if devices > 1 else None
    k = -(-min(num_trials, MAX_TRIALS_PER_STEP * devices) // devices) * devices
    names = tuple(sorted(submission.hparams))
    batch_size = submission.batch_size(workload)
    while True:
        program, _ = vector_program(workload, submission, names, batch_size, k, mesh=mesh)
        if k <= devices or step_bytes(program) <= MEMORY_SHARE * _free_memory():
            return k, mesh
        k = max(devices, k // 2 // devices * devices)


def _free_memory() -> int:
    stats = jax.local_devices()[0].memory_stats()
    if stats and "bytes_limit" in stats:
        return stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def lanes_for(
    workload: Workload, submission: Submission, most: int, requested: int | None = None
) -> int:
    """How many trials to train together: ``requested``; else the planner's choice
    on accelerators and several devices; else, on one CPU, ``most`` where the step
    fuses (it does not convolve) and 1 where it does not."""
    if requested is not None:
        return requested
    if jax.default_backend() != "cpu" or jax.local_device_count() > 1:
        return plan(workload, submission, most)[0]
    names = tuple(sorted(submission.hparams))
    program, _ = compiled_program(workload, submission, names, submission.batch_size(workload))
    return most if program.steps is not None else 1


def run_points(workload, submission, points, seeds, lanes: int, stop_at_target: bool):
    """``run_trial`` of each (point, seed), ``lanes`` at a time (one: alone)."""
    if lanes == 1:
        return [
            run_trial(workload, submission, p, seed=s, stop_at_target=stop_at_target)
            for p, s in zip(points, seeds, strict=True)
        ]
    return run_trials(
        workload, submission, points, seeds, stop_at_target=stop_at_target, size=lanes
    )


def groups(num_trials: int, size: int) -> list[range]:
    """Consecutive groups of at most ``size`` trials."""
    size = max(1, size)
    return [range(i, min(i + size, num_trials)) for i in range(0, num_trials, size)]
