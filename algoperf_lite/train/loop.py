"""The training loop: K trials of one workload and submission trained together
as the lanes of one compiled program; K = 1 is a single trial.

Clock rules (stricter than AlgoPerf's, see the README):

* The device is synchronized before the clock is read, so a step's time is
  the time its work took, not the time it took to enqueue it.
* Compilation happens ahead of time, is timed on its own and reported as
  ``compile_time_sec``; it is not part of time-to-target. Trials of the same
  workload and submission reuse the compiled step (hyperparameters are
  arguments, not constants), so a study compiles once.
* Evaluation, logging, checkpoints and writing files are off the clock.
* The step budget is exact and the time budget is checked between chunks of
  steps, not only at evaluations: every ``sync_every`` steps, or by default
  about every ``SYNC_SECONDS`` of training (chunks of multiples of
  ``SYNC_STEPS``, so that small models are not held up by clock reads).

Lanes of one group share the clock: each is charged the group's time, and its
``result.json`` says how many trials shared each step (``trials_per_step``).
Everything else is per lane and the same for every K: a lane that reaches its
target or diverges stops being recorded at that point (its lane keeps
computing until the group stops), the time budget and out of memory stop the
group, and every lane is checkpointed in its own folder, in the same form as
a single trial's checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time

import jax
from tqdm import tqdm

from algoperf_lite.core import cpu, io
from algoperf_lite.core.errors import UserError
from algoperf_lite.core.spec import Submission, Workload
from algoperf_lite.train import checkpoints, records
from algoperf_lite.train.group import Group
from algoperf_lite.train.result import (
    Lane,
    TrialResult,
    finish_lanes,
    finished_trial,
    fresh_books,
    jsonable,
    out_of_memory,
    record_eval,
    start_folder,
    stop_after_eval,
    trial_fingerprint,
)

# Default chunks between clock reads: multiples of SYNC_STEPS lasting about
# SYNC_SECONDS. A lane that diverges in a longer chunk is replayed from the
# chunk's start in SYNC_STEPS chunks, so it stops where it would in short ones.
SYNC_STEPS = 10
SYNC_SECONDS = 0.2


def run_trial(workload: Workload, submission: Submission, hparams=None, **options) -> TrialResult:
    """Train until the validation target, the step budget or the time budget.

    ``hparams`` override the submission's declared defaults. ``max_steps``
    defaults to the workload's ``step_hint``. With ``output_dir`` (one
    trial's folder), files are written in AlgoPerf's layout, and a folder that
    already holds this same finished trial is read back instead of rerun; the
    folder is locked while the trial runs, so a second process waits for it and
    then reads it back instead of training it twice.
    With ``checkpoint_every`` (steps) or ``checkpoint_seconds`` (wall clock),
    the whole trial is checkpointed there off the clock, and a rerun resumes
    from the newest checkpoint with the same numbers as an uninterrupted run.
    ``fuse`` runs the steps between clock reads in one dispatch (default: where
    that is faster, see ``fuse_by_default``); ``mesh`` (see ``data_mesh``)
    splits each batch over several devices. See ``run_trials`` for the rest.
    """
    seed = options.pop("seed", 0)
    output_dir = options.pop("output_dir", None)
    return run_trials(workload, submission, [hparams], [seed], output_dirs=[output_dir], **options)[
        0
    ]


def run_trials(
    workload: Workload, submission: Submission, points, seeds, **options
) -> list[TrialResult]:
    """Train ``len(points)`` trials together; the same results as calling
    ``run_trial(workload, submission, points[i], seed=seeds[i], ...)`` for each,
    their folders locked while they run.

    Options: ``max_steps``, ``max_seconds``, ``output_dirs`` (one folder or
    None per trial), ``stop_at_target``, ``sync_every``, ``checkpoint_every``,
    ``checkpoint_seconds``, ``progress``, ``fuse``, ``mesh`` (a "data" mesh
    splits one trial's batch; a "trials" mesh, see ``trial_mesh``, spreads the
    lanes over devices) and ``size``: the group is padded with copies of its
    last trial to ``size`` lanes (so groups of a study share one compilation)
    and to a multiple of the devices."""
    cpu.start_on_one_core()  # before JAX starts: the same numbers however trials are planned
    folders = [f for f in options.get("output_dirs") or [] if f is not None]
    with records.sole_writer(folders):
        return _locked_run(workload, submission, points, seeds, **options)


@dataclasses.dataclass
class Options:
    max_steps: int
    max_seconds: float | None = None
    stop_at_target: bool = True
    sync_every: int | None = None
    checkpoint_every: int | None = None
    checkpoint_seconds: float | None = None
    progress: bool = False
    plan: dict | None = None  # recorded in each result.json

    @property
    def checkpointing(self) -> bool:
        return bool(self.checkpoint_every or self.checkpoint_seconds)


def _locked_run(
    workload,
    submission,
    points,
    seeds,
    *,
    max_steps=None,
    output_dirs=None,
    fuse=None,
    mesh=None,
    size=None,
    **options,
) -> list[TrialResult]:
    """``run_trials`` once its folders are locked: read back finished trials,
    hand API files to their adapter, train the rest as one group."""
    if len(points) != len(seeds):
        raise ValueError("one seed per point")
    max_steps = workload.step_hint if max_steps is None else int(max_steps)
    if max_steps < 1:
        raise UserError(f"--max-steps must be at least 1, got {max_steps}")
    opts = Options(max_steps=max_steps, **options)
    output_dirs = output_dirs or [None] * len(points)
    hps = [submission.resolve_hparams(p) for p in points]
    prints = [
        trial_fingerprint(workload, submission, seed, hp, max_steps, opts.max_seconds)
        for hp, seed in zip(hps, seeds, strict=True)
    ]
    results = [
        None if d is None else finished_trial(d, p)
        for d, p in zip(output_dirs, prints, strict=True)
    ]
    todo = [i for i, r in enumerate(results) if r is None]
    if not todo:
        return results
    if opts.checkpointing and any(output_dirs[i] is None for i in todo):
        opts.checkpoint_every = opts.checkpoint_seconds = None  # nowhere to keep them
    for i in todo:
        if output_dirs[i] is not None:
            start_folder(output_dirs[i], prints[i])
    lanes = [Lane(prints[i], output_dirs[i], fresh_books()) for i in todo]
    todo_hps, todo_seeds = [hps[i] for i in todo], [seeds[i] for i in todo]
    if submission.make_group is not None:  # a submission that drives its own steps
        _check_one_lane(todo, opts)
        batch_size = submission.batch_size(workload)
        group = submission.make_group(
            workload, submission, todo_hps[0], todo_seeds[0], batch_size, lanes[0].books
        )
    else:
        batched = len(todo) > 1 or (size or 1) > 1 or _spreads_trials(mesh)
        group = Group.build(workload, submission, todo_hps, todo_seeds, batched, fuse, mesh, size)
    for i, result in zip(todo, train(workload, submission, group, lanes, opts), strict=True):
        results[i] = result
    return results


def _spreads_trials(mesh) -> bool:
    return mesh is not None and tuple(mesh.axis_names) == ("trials",)


def _check_one_lane(todo, opts) -> None:
    if len(todo) > 1:
        raise UserError("AlgoPerf-API submissions run one trial at a time; drop vectorization")
    if opts.checkpointing:
        raise UserError("checkpointing is not supported for AlgoPerf-API submissions")


def train(workload, submission, group: Group, lanes: list[Lane], opts: Options) -> list:
    """The one loop: train ``lanes`` (``group``'s first lanes) until each stops."""
    for lane in lanes:
        lane.books["next_eval"] = workload.eval_every
        lane.books["compile_time_sec"] = group.compile_seconds if group.compiled else 0.0
    state = group.state
    if state is None:  # compiling ran out of memory
        for lane in lanes:
            lane.books["stopped_by"] = "out_of_memory"
        return finish_lanes(workload, submission, lanes, group.size, group.compiled, opts.plan)
    state = _restored(group, state, lanes) if opts.checkpointing else state
    run = _Run(workload, submission, group, lanes, opts, state)
    restored_done = not any(lane.active for lane in lanes)
    try:
        with group.running():
            run.loop()
    except jax.errors.JaxRuntimeError as e:
        if not out_of_memory(e):
            raise
        run.stop_active("out_of_memory")
    finally:
        run.bar.close()
    oom = any(lane.books["stopped_by"] == "out_of_memory" for lane in lanes)
    run.stop_active("step_budget")
    if opts.checkpointing and not oom and not restored_done:
        run.save_checkpoint()  # the final state, for inspection and comparison
    for lane in lanes:
        lane.books["total_duration_sec"] = time.perf_counter() - run.wall_start
    return finish_lanes(workload, submission, lanes, group.size, group.compiled, opts.plan)


def _restored(group: Group, state, lanes: list[Lane]):
    """The group's state from its lanes' newest checkpoints, where every lane
    has one of its own trial at the same step; else ``state`` (start afresh)."""
    found = []
    for i, lane in enumerate(lanes):
        restored = checkpoints.restore(lane.output_dir, group.lane_state(state, i))
        if restored is None or restored[1]["fingerprint"] != jsonable(lane.fingerprint):
            return state
        found.append(restored)
    if len({int(s.step) for s, _ in found}) != 1:
        return state
    for lane, (lane_state, books) in zip(lanes, found, strict=True):
        lane.books = {k: v for k, v in books.items() if k not in ("fingerprint", "steps")}
        lane.books["preemption_count"] += 1
        lane.steps = int(books.get("steps", lane_state.step))
    return jax.block_until_ready(group.stacked([s for s, _ in found]))


class _Run:
    """The loop's moving parts: the state, the step, the clock and the bar."""

    def __init__(self, workload, submission, group, lanes, opts, state):
        self.workload, self.group, self.lanes, self.opts = workload, group, lanes, opts
        self.state = state
        self.step = int(state.step)
        self.next_eval = lanes[0].books["next_eval"]
        self.wall_start = time.perf_counter() - lanes[0].books["total_duration_sec"]
        self.last_checkpoint = (self.step, time.perf_counter())
        count = f" x{len(lanes)}" if len(lanes) > 1 else ""
        self.bar = tqdm(
            total=opts.max_steps,
            initial=self.step,
            desc=f"{workload.name}/{submission.name}{count}",
            unit="step",
            disable=not opts.progress,
            leave=False,
            dynamic_ncols=True,
        )

    @property
    def active(self) -> list[int]:
        return [i for i, lane in enumerate(self.lanes) if lane.active]

    def stop_active(self, reason: str) -> None:
        for i in self.active:
            self.lanes[i].books["stopped_by"] = reason

    def bounded(self, length: int) -> int:
        stop = min(self.next_eval, self.step + length, self.opts.max_steps)
        every = self.opts.checkpoint_every
        return min(stop, (self.step // every + 1) * every) if every else stop

    def loop(self) -> None:
        opts = self.opts
        base = opts.sync_every or SYNC_STEPS
        chunk = base
        while self.step < opts.max_steps and self.active:
            start, stop = self.step, self.bounded(chunk)
            seconds = self.chunk(start, stop, base)
            if opts.sync_every is None and self.step > start:
                per_step = seconds / (self.step - start)
                chunk = base * max(1, int(SYNC_SECONDS / max(per_step, 1e-9) / base))
            self.bar.update(self.step - self.bar.n)
            if not self.active:
                break
            first = self.lanes[self.active[0]].books
            if opts.max_seconds is not None and first["submission_time_sec"] > opts.max_seconds:
                self.stop_active("time_budget")
                break
            if self.step in (self.next_eval, opts.max_steps) or self.group.finished:
                self.evaluate()
            self.maybe_checkpoint()

    def chunk(self, start: int, stop: int, base: int) -> float:
        """Train from ``start`` to ``stop`` on the clock; a chunk in which a lane
        diverged is replayed off the clock in ``base`` chunks, up to the
        divergence. Returns its seconds; diverged lanes are stopped."""
        group = self.group
        kept = group.keep(self.state) if stop - start > base else None
        tic, cpu = time.perf_counter(), time.process_time()
        self.state, stop = group.advance(self.state, start, stop)
        jax.block_until_ready(self.state)
        seconds = self.charge(time.perf_counter() - tic, time.process_time() - cpu)
        nonfinite = group.nonfinite(self.state)  # read off the clock: bookkeeping
        active = self.active
        diverged = [i for i in active if nonfinite[i]]
        if diverged and kept is not None:
            state, step = kept, start
            while step < stop and not group.nonfinite(state)[active].any():
                end = min(step + base, stop)
                state, step = group.advance(state, step, end)
            self.state, stop = state, step
        self.step = stop
        for i in active:
            self.lanes[i].steps = stop
        for i in diverged:
            self.lanes[i].books["stopped_by"] = "divergence"
        return seconds

    def charge(self, elapsed: float, cpu: float = 0.0) -> float:
        """``elapsed`` seconds of the submission's code to the active lanes: what
        it spent compiling (an API file compiles as it goes) to compile time, the
        rest to submission time, which it returns. ``cpu``: the process's CPU
        seconds meanwhile, the training's share of them kept (``cores_busy``)."""
        compiled = self.group.take_compile_seconds(elapsed)
        training = elapsed - compiled
        for i in self.active:
            books = self.lanes[i].books
            books["compile_time_sec"] += compiled
            books["submission_time_sec"] += training
            books["training_cpu_sec"] = books.get("training_cpu_sec", 0.0) + (
                cpu * training / elapsed if elapsed > 0 else 0.0
            )
        return training

    def evaluate(self) -> None:
        """One evaluation row per active lane (off the clock, but for the
        submission's own preparation for it)."""
        workload, opts, group = self.workload, self.opts, self.group
        self.next_eval += workload.eval_every
        tic = time.perf_counter()
        self.state = group.prepare(self.state)
        self.charge(time.perf_counter() - tic)
        active = self.active
        tic = time.perf_counter()
        metrics = group.evaluate(self.state)
        share = (time.perf_counter() - tic) / len(active)
        compiled = group.take_compile_seconds()
        for i in active:
            books = self.lanes[i].books
            books["next_eval"] = self.next_eval
            books["eval_time_sec"] += share
            books["compile_time_sec"] += compiled
            value = record_eval(books, metrics[i], self.step, workload, self.wall_start)
            group.evaluated(self.step, books["rows"][-1])
            if group.diverged_at(metrics[i]):
                value = math.nan
            self.bar.set_postfix({workload.metric_column: f"{value:.4f}"}, refresh=False)
            books["stopped_by"] = stop_after_eval(value, workload, books, opts.stop_at_target)
            if books["stopped_by"] is None and group.finished:
                books["stopped_by"] = "training_complete"
            folder = self.lanes[i].output_dir
            if folder is not None and books["stopped_by"] is None:
                tic = time.perf_counter()
                # A running trial's log: rewritten at every evaluation, so not
                # waited onto the disk (its finished version is).
                path = os.path.join(folder, io.MEASUREMENTS_FILE)
                io.write_csv(path, books["rows"], durable=False)
                books["accumulated_logging_time"] += time.perf_counter() - tic

    def maybe_checkpoint(self) -> None:
        opts = self.opts
        if not opts.checkpointing or self.step >= opts.max_steps or not self.active:
            return
        steps, seconds = self.last_checkpoint
        due_steps = opts.checkpoint_every and self.step - steps >= opts.checkpoint_every
        due_time = (
            opts.checkpoint_seconds and time.perf_counter() - seconds >= opts.checkpoint_seconds
        )
        if due_steps or due_time:
            self.save_checkpoint()

    def save_checkpoint(self) -> None:
        """Every lane's state and books, each in its own trial folder (off the clock)."""
        tic = time.perf_counter()
        for i, lane in enumerate(self.lanes):
            lane.books["total_duration_sec"] = time.perf_counter() - self.wall_start
            books = {**lane.books, "steps": lane.steps, "fingerprint": jsonable(lane.fingerprint)}
            checkpoints.save(
                lane.output_dir, self.step, self.group.lane_state(self.state, i), books
            )
        for lane in self.lanes:
            lane.books["checkpoint_time_sec"] += (time.perf_counter() - tic) / len(self.lanes)
        self.last_checkpoint = (self.step, time.perf_counter())
