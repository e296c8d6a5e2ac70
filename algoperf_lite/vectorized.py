"""Many trials per compiled step: K hyperparameter points (and seeds) of one
workload and submission trained together, ``jax.vmap`` over the trial axis.

Each trial computes exactly what it would alone (same initial weights, batch
order, dropout and updates), so its learning curve, steps to target and final
metrics match a separate ``run_trial`` within float tolerance. What is shared
is the clock: every trial of a group is charged the group's time, and its
``result.json`` says how many trials shared each step (``trials_per_step``).
Steps to target, the hardware-independent clock, is unaffected.

With ``mesh`` (see ``trial_mesh``) the trial axis is spread over devices:
trial-parallel training, one or more trials per device.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from algoperf_lite import records, runner
from algoperf_lite.errors import UserError
from algoperf_lite.spec import Submission, Workload

MAX_TRIALS_PER_STEP = 16
MEMORY_SHARE = 0.5  # of the free device (or host) memory a group may use


@dataclasses.dataclass
class VectorProgram:
    init: Any
    step: Any
    evaluate: Any
    compile_seconds: float
    size: int
    steps: Any = None
    sharding: Any = None  # of the trial axis, when spread over devices


def trial_mesh(devices=None) -> jax.sharding.Mesh:
    """The mesh of trial parallelism: a group's trials split along its "trials" axis."""
    return runner.one_axis_mesh("trials", devices)


_PROGRAMS: dict[tuple, VectorProgram] = {}


def vector_program(
    workload: Workload,
    submission: Submission,
    hparam_names: tuple[str, ...],
    batch_size: int,
    size: int,
    fuse: bool | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> tuple[VectorProgram, bool]:
    """The compiled, vmapped init/step/evaluate for ``size`` trials."""
    key = (workload, submission, hparam_names, batch_size, size, fuse, mesh)
    if key in _PROGRAMS:
        return _PROGRAMS[key], False
    if mesh is not None and size % mesh.size:
        raise UserError(f"{size} trials do not split over {mesh.size} devices")
    submission.check_optimizer(hparam_names, workload.step_hint)
    data = runner.device_data(workload)
    x, y = data.train
    init, step, evaluate = runner.trial_functions(workload, submission, batch_size, len(x))
    # The trials of a group move in lockstep: one shared step counter keeps the
    # once-per-epoch shuffle a real branch (a per-trial counter would turn it
    # into a select that shuffles every step).
    lanes = runner.TrialState(*[0] * len(dataclasses.fields(runner.TrialState)))
    lanes = lanes.replace(step=None)
    v_init = jax.vmap(init, in_axes=(0, 0, None), out_axes=lanes)
    v_step = jax.vmap(step, in_axes=(lanes, 0, None, None), out_axes=(lanes, 0))
    v_eval = jax.vmap(evaluate, in_axes=(0, 0, None, None, None))
    sharding, state_sharding = None, None
    if mesh is not None:
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("trials"))
        everywhere = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        state_sharding = jax.tree.map(
            lambda a: everywhere if a is None else sharding, lanes, is_leaf=lambda a: a is None
        )
    hp = {k: jax.ShapeDtypeStruct((size,), jnp.float32, sharding=sharding) for k in hparam_names}
    keys = jax.ShapeDtypeStruct((size, 2), jnp.uint32, sharding=sharding)
    sample = jax.ShapeDtypeStruct((batch_size, *x.shape[1:]), x.dtype)

    def placed(outputs):
        return {} if mesh is None else dict(out_shardings=outputs)

    start = time.perf_counter()
    init_c = jax.jit(v_init, **placed(state_sharding)).lower(keys, hp, sample).compile()
    state = jax.eval_shape(v_init, keys, hp, sample)
    if mesh is not None:  # every leaf along the trial axis but the shared (scalar) counter
        state = jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(
                a.shape, a.dtype, sharding=sharding if a.shape else everywhere
            ),
            state,
        )
    step_c, steps_c = runner.training_programs(
        v_step,
        (state, hp, x, y),
        fuse,
        placed((state_sharding, sharding)),
        placed(state_sharding),
    )
    xs, ys, mask = data.eval_sets["validation"]
    eval_c = jax.jit(v_eval, **placed(sharding))
    eval_c = eval_c.lower(state.params, state.model_state, xs, ys, mask).compile()
    program = VectorProgram(
        init_c, step_c, eval_c, time.perf_counter() - start, size, steps_c, sharding
    )
    _PROGRAMS[key] = program
    return program, True


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


def step_bytes(program: VectorProgram) -> int:
    """Device bytes the compiled training program needs (per device)."""
    stats = (program.steps or program.step).memory_analysis()
    if stats is None:
        return 0
    used = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    return used - stats.alias_size_in_bytes


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
    program, _ = runner.compiled_program(
        workload, submission, names, submission.batch_size(workload)
    )
    return most if program.steps is not None else 1


def run_points(workload, submission, points, seeds, lanes: int, stop_at_target: bool):
    """``run_trial`` of each (point, seed), ``lanes`` at a time (one: alone)."""
    if lanes == 1:
        return [
            runner.run_trial(workload, submission, p, seed=s, stop_at_target=stop_at_target)
            for p, s in zip(points, seeds, strict=True)
        ]
    return run_trials(
        workload, submission, points, seeds, stop_at_target=stop_at_target, size=lanes
    )


def run_trials(workload: Workload, submission: Submission, points, seeds, **options):
    """Train ``len(points)`` trials together; the same results as calling
    ``run_trial(workload, submission, points[i], seed=seeds[i], ...)`` for each,
    their folders locked while they run (see ``_run_trials`` for the options)."""
    folders = [f for f in options.get("output_dirs") or [] if f is not None]
    with records.sole_writer(folders):
        return _run_trials(workload, submission, points, seeds, **options)


def _run_trials(
    workload: Workload,
    submission: Submission,
    points: list[dict],
    seeds: list[int],
    *,
    max_steps: int | None = None,
    output_dirs: list[str | None] | None = None,
    stop_at_target: bool = True,
    sync_every: int = 10,
    fuse: bool | None = None,
    mesh: jax.sharding.Mesh | None = None,
    size: int | None = None,
    progress: bool = False,
) -> list[runner.TrialResult]:
    """``run_trials`` once its folders are locked.

    A trial that reaches its target or diverges stops being recorded at that
    evaluation (its lane keeps computing until the whole group stops). Trials
    whose ``output_dir`` already holds their finished result are read back.
    The group is padded with copies of its last trial to ``size`` lanes (so
    groups of a study share one compilation) and to a multiple of the devices.
    """
    if submission.api is not None:
        raise UserError("AlgoPerf-API submissions run one trial at a time; drop vectorization")
    if len(points) != len(seeds):
        raise ValueError("one seed per point")
    output_dirs = output_dirs or [None] * len(points)
    max_steps = workload.step_hint if max_steps is None else int(max_steps)
    if max_steps < 1:
        raise UserError(f"--max-steps must be at least 1, got {max_steps}")
    hps = [submission.resolve_hparams(p) for p in points]
    prints = [
        runner.trial_fingerprint(workload, submission, seed, hp, max_steps, None)
        for hp, seed in zip(hps, seeds, strict=True)
    ]
    results: list[runner.TrialResult | None] = [None] * len(points)
    for i, folder in enumerate(output_dirs):
        if folder is not None:
            results[i] = runner._finished_trial(folder, prints[i])
    todo = [i for i, r in enumerate(results) if r is None]
    if not todo:
        return results
    for i in todo:
        if output_dirs[i] is not None:
            runner.start_folder(output_dirs[i], prints[i])

    devices = 1 if mesh is None else mesh.size
    size = max(size or 0, len(todo))
    size += -size % devices
    lanes = todo + [todo[-1]] * (size - len(todo))
    names = tuple(sorted(hps[0]))
    batch_size = submission.batch_size(workload)
    program, compiled = vector_program(workload, submission, names, batch_size, size, fuse, mesh)
    data = runner.device_data(workload)
    x, y = data.train
    hp_arrays = {k: np.asarray([hps[i][k] for i in lanes], np.float32) for k in names}
    keys = np.stack([np.asarray(jax.random.key_data(jax.random.PRNGKey(seeds[i]))) for i in lanes])
    sample = np.zeros((batch_size, *x.shape[1:]), x.dtype)
    hp_arrays, keys = jax.device_put((hp_arrays, keys), program.sharding)
    state = jax.block_until_ready(program.init(keys, hp_arrays, sample))

    books = [runner._fresh_books() for _ in lanes]
    for b in books:
        b["compile_time_sec"] = program.compile_seconds if compiled else 0.0
    stopped_by: list[str | None] = [None] * len(todo)
    steps = [0] * len(todo)
    step, next_eval, elapsed = 0, workload.eval_every, 0.0
    wall_start = time.perf_counter()
    bar = tqdm(
        total=max_steps,
        desc=f"{workload.name}/{submission.name} x{len(todo)}",
        unit="step",
        disable=not progress,
        leave=False,
    )
    try:
        while step < max_steps and any(s is None for s in stopped_by):
            stop = min(next_eval, step + sync_every, max_steps)
            tic = time.perf_counter()
            state, step = runner.advance(program, state, hp_arrays, x, y, step, stop)
            nonfinite = np.asarray(state.nonfinite)  # reading it waits for the device
            elapsed += time.perf_counter() - tic
            bar.update(stop - bar.n)
            evaluating = step == next_eval or step == max_steps
            if evaluating:
                next_eval += workload.eval_every
                metrics = _evaluate(program, state, data, submission, books, len(todo))
            for lane in range(len(todo)):
                if stopped_by[lane] is not None:
                    continue
                steps[lane] = step
                books[lane]["submission_time_sec"] = elapsed
                if nonfinite[lane]:
                    stopped_by[lane] = "divergence"
                elif evaluating:
                    value = runner.record_eval(
                        books[lane], metrics[lane], step, workload, wall_start
                    )
                    stopped_by[lane] = runner.stop_after_eval(
                        value, workload, books[lane], stop_at_target
                    )
    finally:
        bar.close()
    total = time.perf_counter() - wall_start
    for lane, i in enumerate(todo):
        books[lane]["total_duration_sec"] = total
        result = runner._finish(
            output_dirs[i],
            prints[i],
            workload,
            submission,
            batch_size,
            books[lane],
            stopped_by[lane] or "step_budget",
            compiled and lane == 0,
            steps=steps[lane],
            trials_per_step=size,
        )
        results[i] = result
    return results


def _evaluate(program, state, data, submission, books, count) -> list[dict]:
    """Every trial's metrics at this evaluation (off the clock)."""
    tic = time.perf_counter()
    metrics = [{} for _ in range(count)]
    params = runner.evaluated_params(submission, state.opt_state, state.params, lanes=True)
    for split, (xs, ys, mask) in data.eval_sets.items():
        values = jax.device_get(program.evaluate(params, state.model_state, xs, ys, mask))
        for lane in range(count):
            metrics[lane].update({f"{split}/{k}": float(v[lane]) for k, v in values.items()})
    if submission.log_values is not None:
        opt_state = jax.device_get(state.opt_state)
        for lane in range(count):
            one = jax.tree.map(lambda a, lane=lane: a[lane], opt_state)
            logged = submission.log_values(one)
            metrics[lane].update({f"optimizer/{k}": float(v) for k, v in logged.items()})
    share = (time.perf_counter() - tic) / count
    for b in books[:count]:
        b["eval_time_sec"] += share
    return metrics


def groups(num_trials: int, size: int) -> list[range]:
    """Consecutive groups of at most ``size`` trials."""
    size = max(1, size)
    return [range(i, min(i + size, num_trials)) for i in range(0, num_trials, size)]
