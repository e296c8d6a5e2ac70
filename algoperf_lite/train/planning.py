"""How many trials to train together, and where: the planner of vmapped groups
(see ``loop.run_trials``, which trains a group)."""

from __future__ import annotations

import os

import jax

from algoperf_lite.core.spec import Submission, Workload
from algoperf_lite.train.loop import run_trial, run_trials
from algoperf_lite.train.program import compiled_program, step_bytes, trial_mesh, vector_program

MAX_TRIALS_PER_STEP = 16
MEMORY_SHARE = 0.5  # of the free device (or host) memory a group may use


def plan(
    workload: Workload, submission: Submission, num_trials: int, requested: int | None = None
) -> tuple[int, jax.sharding.Mesh | None]:
    """How many trials to train per compiled step, and the devices they spread over.

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
