"""The trial runner: one workload + one submission + one hyperparameter point + one seed.

Clock rules (stricter than AlgoPerf's, see the README):

* The device is synchronized before the clock is read, so a step's time is
  the time its work took, not the time it took to enqueue it.
* Compilation happens ahead of time, is timed on its own and reported as
  ``compile_time_sec``; it is not part of time-to-target. Trials of the same
  workload and submission reuse the compiled step (hyperparameters are
  arguments, not constants), so a study compiles once.
* Evaluation, logging and writing files are off the clock.
* The step budget is exact and the time budget is checked between chunks of
  steps, not only at evaluations: every ``sync_every`` steps, or by default
  about every ``SYNC_SECONDS`` of training (chunks of multiples of
  ``SYNC_STEPS``, so that small models are not held up by clock reads).

The whole trial state is one pytree (:class:`TrialState`) so that it can be
checkpointed and so that several trials can be vmapped.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from algoperf_lite import checkpoints, io, records
from algoperf_lite.errors import UserError, warn
from algoperf_lite.spec import Submission, Workload


@flax.struct.dataclass
class TrialState:
    step: jax.Array  # int32 scalar: steps taken; also the data position
    params: Any
    opt_state: Any
    model_state: Any  # non-parameter collections, e.g. batch-norm statistics
    rng: jax.Array  # dropout key; folded with the step each step
    data_rng: jax.Array  # shuffling key; folded with the epoch each epoch
    order: jax.Array  # this epoch's permutation of the training examples
    nonfinite: jax.Array  # bool scalar: a training loss was NaN or inf


# ---------------------------------------------------------------------------
# Pure functions of one trial (jit them, vmap them, shard them).
# ---------------------------------------------------------------------------


def augment_key(data_key, step):
    """Augmentation draws from the data stream, one key per step (as AlgoPerf's
    input pipeline augments), so our runner and the AlgoPerf-API input queue
    augment a step's batch alike."""
    return jax.random.fold_in(jax.random.split(data_key)[1], step)


def _apply(model, params, model_state, x, *, train, dropout_rate, rng):
    variables = {"params": params, **model_state}
    kwargs = dict(train=train, dropout_rate=dropout_rate, rngs={"dropout": rng})
    if train and model_state:
        return model.apply(variables, x, mutable=list(model_state), **kwargs)
    return model.apply(variables, x, **kwargs), model_state


def trial_functions(
    workload: Workload,
    submission: Submission,
    batch_size: int,
    num_train: int,
    batch_sharding=None,
):
    """``init(seed_key, hparams)``, ``step(state, hparams, x, y)`` and
    ``evaluate(params, model_state, xs, ys, mask)`` for one workload and submission.

    With ``batch_sharding`` (data parallelism) each step's batch is laid out
    across the devices and XLA partitions the step: the state stays
    replicated and gradients are summed across devices."""
    model = workload.make_model()
    step_hint = workload.step_hint
    steps_per_epoch = num_train // batch_size
    if steps_per_epoch < 1:
        raise UserError(
            f"batch size {batch_size} exceeds the {num_train} training examples of "
            f"{workload.name}; use a smaller batch size"
        )

    def shuffle(data_key, epoch):
        return jax.random.permutation(jax.random.fold_in(data_key, epoch), num_train)

    def init(seed_key, hparams, sample_x):
        init_key, dropout_key, data_key = jax.random.split(seed_key, 3)
        variables = model.init({"params": init_key}, sample_x, train=False)
        variables = flax.core.unfreeze(variables)
        params = variables.pop("params")
        opt_state = submission.make_optimizer(hparams, step_hint).init(params)
        return TrialState(
            order=shuffle(data_key, 0),
            step=jnp.zeros([], jnp.int32),
            params=params,
            opt_state=opt_state,
            model_state=variables,
            rng=dropout_key,
            data_rng=data_key,
            nonfinite=jnp.zeros([], bool),
        )

    def step(state: TrialState, hparams, x, y):
        epoch, position = jnp.divmod(state.step, steps_per_epoch)
        # A permutation costs more than a small model's step: draw one per epoch.
        order = jax.lax.cond(
            (position == 0) & (epoch > 0),
            lambda: shuffle(state.data_rng, epoch),
            lambda: state.order,
        )
        idx = jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)
        batch_x, batch_y = x[idx], y[idx]
        if batch_sharding is not None:
            batch_x, batch_y = jax.lax.with_sharding_constraint((batch_x, batch_y), batch_sharding)
        dropout_rng = jax.random.fold_in(state.rng, state.step)
        if workload.augment is not None:
            batch_x = workload.augment(augment_key(state.data_rng, state.step), batch_x)

        def loss_of(params):
            out, model_state = _apply(
                model,
                params,
                state.model_state,
                batch_x,
                train=True,
                dropout_rate=hparams.get("dropout_rate", 0.0),
                rng=dropout_rng,
            )
            losses = workload.loss_fn(out, batch_y, hparams.get("label_smoothing", 0.0))
            return losses.mean(), model_state

        (loss, model_state), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
        tx = optax.with_extra_args_support(submission.make_optimizer(hparams, step_hint))
        # Rules that need more gradients on this batch (e.g. Runge-Kutta) call grad_fn.
        grad_fn = jax.grad(lambda params: loss_of(params)[0])
        updates, opt_state = tx.update(grads, state.opt_state, state.params, grad_fn=grad_fn)
        new_state = state.replace(
            step=state.step + 1,
            order=order,
            params=optax.apply_updates(state.params, updates),
            opt_state=opt_state,
            model_state=model_state,
            nonfinite=state.nonfinite | ~jnp.isfinite(loss),
        )
        return new_state, loss

    def evaluate(params, model_state, xs, ys, mask):
        def chunk(inputs):
            x, y, m = inputs
            out, _ = _apply(
                model,
                params,
                model_state,
                x,
                train=False,
                dropout_rate=0.0,
                rng=jax.random.PRNGKey(0),
            )
            return {k: (v * m).sum() for k, v in workload.metrics_fn(out, y).items()}

        sums = jax.lax.map(chunk, (xs, ys, mask))
        return {k: v.sum() / mask.sum() for k, v in sums.items()}

    return init, step, evaluate


def fused(step):
    """``steps(state, hparams, x, y, n)``: ``n`` steps in one dispatch, as a loop
    on the device (``n`` is an argument, so one compilation serves every count)."""

    def steps(state, hparams, x, y, n):
        return jax.lax.fori_loop(0, n, lambda _, s: step(s, hparams, x, y)[0], state)

    return steps


def training_programs(step, args, fuse, step_place, loop_place):
    """The compiled training program for ``step(*args)``: ``(step, None)``, or
    ``(lazy step, fused loop)`` when fusing (``fuse``, or by default
    ``fuse_by_default``). Only one is compiled up front; the single step next
    to a fused loop compiles only if something calls it."""
    step_jit = jax.jit(step, donate_argnums=0, **step_place)
    lowered = step_jit.lower(*args)
    if not (fuse_by_default(lowered) if fuse is None else fuse):
        return lowered.compile(), None
    n = jax.ShapeDtypeStruct((), jnp.int32)
    # Not donated: the runner keeps a chunk's starting state (to replay a chunk
    # that diverged) without copying it; a chunk is many steps, so the one
    # extra state buffer it allocates costs nothing per step.
    loop = jax.jit(fused(step), **loop_place)
    return step_jit, loop.lower(*args, n).compile()


def advance(program, state, hparams, x, y, step: int, stop: int):
    """Train from ``step`` to ``stop``: one fused dispatch, or one per step."""
    if program.steps is not None:
        return program.steps(state, hparams, x, y, np.int32(stop - step)), stop
    for _ in range(step, stop):
        state, _ = program.step(state, hparams, x, y)
    return state, stop


def fuse_by_default(lowered_step) -> bool:
    """Fuse steps unless the step convolves on a CPU: XLA's CPU convolutions
    inside a device loop run several times slower than dispatched one by one
    (measured in results/speed.md)."""
    convolves = "convolution" in lowered_step.as_text()
    return jax.default_backend() != "cpu" or not convolves


# ---------------------------------------------------------------------------
# Device data and compiled programs, built once per workload and submission.
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class DeviceData:
    train: tuple[jax.Array, jax.Array]
    # split -> (inputs [chunks, eval_batch, ...], labels [chunks, eval_batch], mask)
    eval_sets: dict[str, tuple[jax.Array, jax.Array, jax.Array]]


def _chunked(x, y, num_chunks, batch):
    pad = num_chunks * batch - len(x)
    mask = np.concatenate([np.ones(len(x), np.float32), np.zeros(pad, np.float32)])
    x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
    y = np.concatenate([y, np.zeros((pad, *y.shape[1:]), y.dtype)])
    shape = lambda a: a.reshape(num_chunks, batch, *a.shape[1:])
    return shape(x), shape(y), shape(mask)


_DATA: dict[Workload, DeviceData] = {}


def device_data(workload: Workload) -> DeviceData:
    """Whole splits on the device (the offline data sets are small); eval splits
    padded to one common shape so one compiled evaluation serves them all. The
    ``train`` eval split is a fixed subset of training data as large as validation."""
    if workload not in _DATA:
        splits = workload.splits()
        x_train, y_train = splits["train"]
        n_val = len(splits["validation"][0])
        sources = {
            "train": (x_train[:n_val], y_train[:n_val]),
            "validation": splits["validation"],
            "test": splits["test"],
        }
        batch = min(workload.eval_batch_size, max(len(x) for x, _ in sources.values()))
        chunks = max(math.ceil(len(x) / batch) for x, _ in sources.values())
        eval_sets = {
            name: tuple(jnp.asarray(a) for a in _chunked(x, y, chunks, batch))
            for name, (x, y) in sources.items()
        }
        _DATA[workload] = DeviceData((jnp.asarray(x_train), jnp.asarray(y_train)), eval_sets)
    return _DATA[workload]


@dataclasses.dataclass
class Program:
    init: Any
    step: Any
    evaluate: Any
    compile_seconds: float
    steps: Any = None  # the fused loop (see ``fused``), where it is used
    mesh: Any = None  # data-parallel: the devices the batch is split over


def one_axis_mesh(axis: str, devices=None) -> jax.sharding.Mesh:
    """A mesh with one axis over ``devices`` (default: every local device)."""
    devices = jax.local_devices() if devices is None else devices
    return jax.sharding.Mesh(np.asarray(devices), (axis,))


def data_mesh(devices=None) -> jax.sharding.Mesh:
    """The mesh of data parallelism: each batch is split along its "data" axis."""
    return one_axis_mesh("data", devices)


_REPLICATED: dict[tuple, DeviceData] = {}


def replicated_data(workload: Workload, mesh) -> DeviceData:
    """``device_data`` copied onto every device of ``mesh``."""
    key = (workload, mesh)
    if key not in _REPLICATED:
        everywhere = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        data = device_data(workload)
        train, eval_sets = jax.device_put((data.train, data.eval_sets), everywhere)
        _REPLICATED[key] = DeviceData(train, eval_sets)
    return _REPLICATED[key]


_PROGRAMS: dict[tuple, Program] = {}


def compiled_program(
    workload: Workload,
    submission: Submission,
    hparam_names: tuple[str, ...],
    batch_size: int,
    fuse: bool | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> tuple[Program, bool]:
    """The compiled init/step/evaluate, and whether this call compiled them.

    ``fuse`` (default: ``fuse_by_default``) adds the fused multi-step loop;
    ``mesh`` makes the step data-parallel over the mesh's devices."""
    key = (workload, submission, hparam_names, batch_size, fuse, mesh)
    if key in _PROGRAMS:
        return _PROGRAMS[key], False
    submission.check_optimizer(hparam_names, workload.step_hint)
    data = device_data(workload) if mesh is None else replicated_data(workload, mesh)
    x, y = data.train
    batch_sharding = None
    if mesh is not None:
        if batch_size % mesh.size:
            raise UserError(
                f"batch size {batch_size} does not split over {mesh.size} devices; "
                f"use a multiple of {mesh.size}"
            )
        batch_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    init, step, evaluate = trial_functions(workload, submission, batch_size, len(x), batch_sharding)
    hp = {k: jax.ShapeDtypeStruct((), jnp.float32) for k in hparam_names}
    seed_key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    sample = jax.ShapeDtypeStruct((batch_size, *x.shape[1:]), x.dtype)
    # Data parallel: everything but the batch is replicated on the mesh's devices.
    place = {}
    if mesh is not None:
        everywhere = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        place = dict(in_shardings=everywhere, out_shardings=everywhere)
    start = time.perf_counter()
    init_c = jax.jit(init, **place).lower(seed_key, hp, sample).compile()
    state = jax.eval_shape(init, seed_key, hp, sample)
    step_c, steps_c = training_programs(step, (state, hp, x, y), fuse, place, place)
    xs, ys, mask = data.eval_sets["validation"]
    eval_c = jax.jit(evaluate, **place).lower(state.params, state.model_state, xs, ys, mask)
    eval_c = eval_c.compile()
    program = Program(init_c, step_c, eval_c, time.perf_counter() - start, steps_c, mesh)
    _PROGRAMS[key] = program
    return program, True


# ---------------------------------------------------------------------------
# One trial.
# ---------------------------------------------------------------------------

STATUSES = ("target_reached", "missed", "diverged", "out_of_memory")
# Default chunks between clock reads: multiples of SYNC_STEPS lasting about
# SYNC_SECONDS. A trial that diverges in a longer chunk is replayed from the
# chunk's start in SYNC_STEPS chunks, so it stops where vmapped trials stop.
SYNC_STEPS = 10
SYNC_SECONDS = 0.2
# Stops that decide the status by themselves; the others depend on the target.
STOP_STATUS = {"divergence": "diverged", "out_of_memory": "out_of_memory"}


@dataclasses.dataclass
class TrialResult:
    workload: str
    submission: str
    seed: int
    hparams: dict[str, float]
    status: str  # one of STATUSES
    stopped_by: str  # target | step_budget | time_budget | divergence | out_of_memory
    metric: str
    target: float | None
    steps: int
    steps_to_target: int | None
    time_to_target: float | None
    grad_evals_to_target: int | None
    best_validation: float | None
    final: dict[str, float]
    compile_time_sec: float
    compiled: bool
    submission_time_sec: float
    eval_time_sec: float
    total_duration_sec: float
    batch_size: int
    step_hint: int
    max_steps: int
    max_seconds: float | None
    versions: dict[str, str]
    workload_hash: str = ""
    submission_hash: str = ""
    preemption_count: int = 0
    trials_per_step: int = 1  # >1: vmapped with others, sharing their clock
    # Evaluation time over training time (AlgoPerf budgets 10 to 20%).
    eval_share: float | None = None
    measurements_sha256: str = ""  # of eval_measurements.csv, checked by the scorer
    rows: list[dict] = dataclasses.field(default_factory=list, repr=False)
    skipped: bool = False

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        del out["rows"], out["skipped"]
        return out

    def summary(self) -> str:
        head = f"{self.workload} / {self.submission} (seed {self.seed}): {self.status}"
        if self.status == "target_reached":
            detail = (
                f"{self.metric} {self.target:g} at step {self.steps_to_target} "
                f"in {self.time_to_target:.2f}s"
            )
        else:
            best = "n/a" if self.best_validation is None else f"{self.best_validation:.4f}"
            detail = f"stopped by {self.stopped_by} at step {self.steps}; best {self.metric} {best}"
        return f"{head}, {detail} (compile {self.compile_time_sec:.2f}s)"


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
    splits each batch over several devices. See ``_run_trial`` for every option.
    """
    folder = options.get("output_dir")
    if folder is None:
        return _run_trial(workload, submission, hparams, **options)
    with records.sole_writer([folder]):
        return _run_trial(workload, submission, hparams, **options)


def _run_trial(
    workload: Workload,
    submission: Submission,
    hparams: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    max_steps: int | None = None,
    max_seconds: float | None = None,
    output_dir: str | None = None,
    stop_at_target: bool = True,
    sync_every: int | None = None,
    checkpoint_every: int | None = None,
    checkpoint_seconds: float | None = None,
    progress: bool = False,
    fuse: bool | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> TrialResult:
    """``run_trial`` once its folder (if any) is locked."""
    # --- Resolve the trial -------------------------------------------------
    hp = submission.resolve_hparams(hparams)
    max_steps = workload.step_hint if max_steps is None else int(max_steps)
    if max_steps < 1:
        raise UserError(f"--max-steps must be at least 1, got {max_steps}")
    checkpointing = output_dir is not None and bool(checkpoint_every or checkpoint_seconds)
    batch_size = submission.batch_size(workload)
    fingerprint = trial_fingerprint(workload, submission, seed, hp, max_steps, max_seconds)
    if output_dir is not None:
        done = _finished_trial(output_dir, fingerprint)
        if done is not None:
            return done
        start_folder(output_dir, fingerprint)

    if submission.api is not None:
        if checkpointing:
            raise UserError("checkpointing is not supported for AlgoPerf-API submissions")
        from algoperf_lite.algoperf_api import loop

        return loop.train(
            workload,
            submission,
            hp,
            seed=seed,
            max_steps=max_steps,
            max_seconds=max_seconds,
            output_dir=output_dir,
            stop_at_target=stop_at_target,
            fingerprint=fingerprint,
            batch_size=batch_size,
            sync_every=sync_every or SYNC_STEPS,
            progress=progress,
        )

    # --- Compile (timed apart) and initialize (off the clock) --------------
    names = traced_names(hp)
    try:
        program, compiled = compiled_program(workload, submission, names, batch_size, fuse, mesh)
    except jax.errors.JaxRuntimeError as e:
        if not _out_of_memory(e):
            raise
        return _finish(
            output_dir,
            fingerprint,
            workload,
            submission,
            batch_size,
            _fresh_books(),
            "out_of_memory",
            False,
        )
    data = device_data(workload) if mesh is None else replicated_data(workload, mesh)
    x, y = data.train
    hp_arrays = {k: np.float32(hp[k]) for k in names}
    sample = np.zeros((batch_size, *x.shape[1:]), x.dtype)
    key = np.asarray(jax.random.key_data(jax.random.PRNGKey(seed)))
    # On the device once, not sent with every call.
    where = None if mesh is None else jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    hp_arrays, sample, key = jax.device_put((hp_arrays, sample, key), where)
    state = program.init(key, hp_arrays, sample)
    books = _fresh_books()
    books["next_eval"] = workload.eval_every
    books["compile_time_sec"] = program.compile_seconds if compiled else 0.0
    restored = checkpoints.restore(output_dir, state) if checkpointing else None
    if restored is not None and restored[1]["fingerprint"] == _jsonable(fingerprint):
        state, books = restored
        books["preemption_count"] += 1
    jax.block_until_ready(state)
    step = int(state.step)
    wall_start = time.perf_counter() - books["total_duration_sec"]
    last_checkpoint = (step, time.perf_counter())

    def save_checkpoint():
        nonlocal last_checkpoint
        tic = time.perf_counter()
        books["total_duration_sec"] = time.perf_counter() - wall_start
        checkpoints.save(output_dir, step, state, {**books, "fingerprint": _jsonable(fingerprint)})
        books["checkpoint_time_sec"] += time.perf_counter() - tic
        last_checkpoint = (step, time.perf_counter())

    # --- Train: chunks of steps between clock reads -----------------------
    # A trial restored from its final checkpoint has already stopped.
    stopped_by = books["stopped_by"] or "step_budget"
    bar = tqdm(
        total=max_steps,
        initial=step,
        desc=f"{workload.name}/{submission.name}",
        unit="step",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )
    base = sync_every or SYNC_STEPS
    chunk = base

    def bounded(step, length):
        stop = min(books["next_eval"], step + length, max_steps)
        if checkpoint_every:
            stop = min(stop, (step // checkpoint_every + 1) * checkpoint_every)
        return stop

    try:
        while step < max_steps and books["stopped_by"] is None:
            next_eval = books["next_eval"]
            start, stop = step, bounded(step, chunk)
            # A long chunk keeps its start; a dispatch per step donates the state,
            # so there it is a copy.
            long_chunk = stop - start > base
            kept = None
            if long_chunk:
                kept = state if program.steps is not None else jax.tree.map(jnp.copy, state)
            tic = time.perf_counter()
            state, step = advance(program, state, hp_arrays, x, y, step, stop)
            diverged = bool(state.nonfinite)  # reading it waits for the device
            jax.block_until_ready(state)
            seconds = time.perf_counter() - tic
            books["submission_time_sec"] += seconds
            if diverged and kept is not None:
                state, step = kept, start  # off the clock: replay in base chunks
                while step < stop and not bool(state.nonfinite):
                    end = bounded(step, base)
                    state, step = advance(program, state, hp_arrays, x, y, step, end)
                stop = step
            if sync_every is None:
                per_step = seconds / (stop - start) if stop > start else 0.0
                chunk = base * max(1, int(SYNC_SECONDS / max(per_step, 1e-9) / base))
            bar.update(stop - bar.n)
            if diverged:
                stopped_by = "divergence"
                break
            if max_seconds is not None and books["submission_time_sec"] > max_seconds:
                stopped_by = "time_budget"
                break
            if step == next_eval or step == max_steps:
                books["next_eval"] = next_eval + workload.eval_every
                value = _evaluate(program, state, data, workload, submission, books, wall_start)
                bar.set_postfix({workload.metric_column: f"{value:.4f}"}, refresh=False)
                stop = stop_after_eval(value, workload, books, stop_at_target)
                if stop is not None:
                    stopped_by = stop
                    break
                if output_dir is not None:
                    tic = time.perf_counter()
                    io.write_csv(os.path.join(output_dir, io.MEASUREMENTS_FILE), books["rows"])
                    books["accumulated_logging_time"] += time.perf_counter() - tic
            due_steps = checkpoint_every and step - last_checkpoint[0] >= checkpoint_every
            due_time = (
                checkpoint_seconds
                and time.perf_counter() - last_checkpoint[1] >= checkpoint_seconds
            )
            if checkpointing and (due_steps or due_time) and step < max_steps:
                save_checkpoint()
    except jax.errors.JaxRuntimeError as e:
        if not _out_of_memory(e):
            raise
        stopped_by = "out_of_memory"
    finally:
        bar.close()
    if checkpointing and stopped_by != "out_of_memory" and books["stopped_by"] is None:
        books["stopped_by"] = stopped_by
        save_checkpoint()  # the final state, for inspection and comparison
    books["total_duration_sec"] = time.perf_counter() - wall_start
    return _finish(
        output_dir,
        fingerprint,
        workload,
        submission,
        batch_size,
        books,
        stopped_by,
        compiled,
        steps=step,
    )


def traced_names(hp: Mapping[str, Any]) -> tuple[str, ...]:
    """The hyperparameters the compiled step takes as arguments. A dropout rate
    of exactly 0 is left out, so the model sees a constant 0 and draws no
    masks; a study mixing 0 and other rates compiles two programs."""
    return tuple(sorted(k for k in hp if not (k == "dropout_rate" and hp[k] == 0)))


def trial_fingerprint(workload, submission, seed, hp, max_steps, max_seconds) -> dict:
    """What identifies a trial: a folder holding another fingerprint is not rerun into."""
    return dict(
        workload=workload.name,
        submission=submission.name,
        seed=int(seed),
        hparams=hp,
        max_steps=max_steps,
        max_seconds=max_seconds,
    )


def start_folder(output_dir: str, fingerprint: dict) -> None:
    """Mark a trial folder as ours and unfinished until the real result replaces it."""
    io.ensure_writable(output_dir)
    io.write_json(os.path.join(output_dir, io.RESULT_FILE), {**fingerprint, "status": io.RUNNING})
    io.write_json(os.path.join(output_dir, io.HPARAMS_FILE), fingerprint["hparams"])


def stop_after_eval(value, workload, books, stop_at_target) -> str | None:
    """Record a first arrival at the target; the reason to stop now, if any."""
    if not math.isfinite(value):
        return "divergence"
    if books["reached_at"] is None and workload.reached(value, workload.validation_target):
        books["reached_at"] = len(books["rows"]) - 1
        if stop_at_target:
            return "target"
    return None


def _fresh_books() -> dict:
    """Everything the runner accumulates besides the state: checkpointed with it."""
    return {
        "rows": [],
        "reached_at": None,
        "best": None,
        "next_eval": None,
        "submission_time_sec": 0.0,
        "eval_time_sec": 0.0,
        "accumulated_logging_time": 0.0,
        "checkpoint_time_sec": 0.0,
        "stopped_by": None,
        "total_duration_sec": 0.0,
        "compile_time_sec": 0.0,
        "preemption_count": 0,
    }


def _jsonable(obj):
    return json.loads(json.dumps(obj))


def _out_of_memory(error: Exception) -> bool:
    return "RESOURCE_EXHAUSTED" in str(error) or "out of memory" in str(error).lower()


def evaluated_params(submission, opt_state, params, lanes: bool = False):
    """The parameters an evaluation sees: the submission's ``eval_params`` of
    its state where it has one (vmapped over trials with ``lanes``), else ``params``."""
    if submission.eval_params is None:
        return params
    return _compiled_pick(submission.eval_params, lanes)(opt_state, params)


@functools.cache
def _compiled_pick(eval_params, lanes: bool):
    return jax.jit(jax.vmap(eval_params) if lanes else eval_params)


def _evaluate(program, state, data, workload, submission, books, wall_start) -> float:
    """One evaluation row (off the clock); returns the validation metric."""
    tic = time.perf_counter()
    metrics = {}
    params = evaluated_params(submission, state.opt_state, state.params)
    for split, (xs, ys, mask) in data.eval_sets.items():
        values = program.evaluate(params, state.model_state, xs, ys, mask)
        metrics.update({f"{split}/{k}": float(v) for k, v in values.items()})
    if submission.log_values is not None:
        logged = submission.log_values(state.opt_state)
        metrics.update({f"optimizer/{k}": float(v) for k, v in logged.items()})
    books["eval_time_sec"] += time.perf_counter() - tic
    return record_eval(books, metrics, int(state.step), workload, wall_start)


def record_eval(books, metrics, step, workload, wall_start) -> float:
    """Append one evaluation row to ``books``; returns the validation metric."""
    value = metrics[workload.metric_column]
    if math.isfinite(value) and (books["best"] is None or workload.better(value, books["best"])):
        books["best"] = value
    books["rows"].append(
        {
            "global_step": step,
            "score": books["submission_time_sec"],
            "total_duration": time.perf_counter() - wall_start,
            "accumulated_submission_time": books["submission_time_sec"],
            "accumulated_eval_time": books["eval_time_sec"],
            "accumulated_logging_time": books["accumulated_logging_time"],
            "preemption_count": books["preemption_count"],
            **metrics,
        }
    )
    return value


def _finish(
    output_dir,
    fingerprint,
    workload,
    submission,
    batch_size,
    books,
    stopped_by,
    compiled,
    steps=0,
    trials_per_step=1,
) -> TrialResult:
    status = STOP_STATUS.get(stopped_by)
    if status is None:
        status = "target_reached" if books["reached_at"] is not None else "missed"
    reached = None if books["reached_at"] is None else books["rows"][books["reached_at"]]
    rows = books["rows"]
    result = TrialResult(
        **fingerprint,
        status=status,
        stopped_by=stopped_by,
        metric=workload.metric_column,
        target=workload.validation_target,
        steps=steps,
        steps_to_target=None if reached is None else reached["global_step"],
        time_to_target=None if reached is None else reached["score"],
        grad_evals_to_target=(
            None if reached is None else reached["global_step"] * submission.grad_evals_per_step
        ),
        best_validation=books["best"],
        # JSON has no NaN: a metric that overflowed is recorded as null.
        final={
            k: v if math.isfinite(v) else None
            for k, v in (rows[-1] if rows else {}).items()
            if "/" in k
        },
        compile_time_sec=books["compile_time_sec"],
        compiled=compiled,
        submission_time_sec=books["submission_time_sec"],
        eval_time_sec=books["eval_time_sec"],
        total_duration_sec=books["total_duration_sec"],
        batch_size=batch_size,
        step_hint=workload.step_hint,
        versions=io.versions(),
        workload_hash=workload.definition_hash,
        submission_hash=submission.source_hash,
        preemption_count=books["preemption_count"],
        trials_per_step=trials_per_step,
        eval_share=(
            books["eval_time_sec"] / books["submission_time_sec"]
            if books["submission_time_sec"] > 0
            else None
        ),
        rows=rows,
    )
    if output_dir is not None:
        path = os.path.join(output_dir, io.MEASUREMENTS_FILE)
        io.write_csv(path, rows)
        result.measurements_sha256 = records.digest(path)
        io.write_json(os.path.join(output_dir, io.RESULT_FILE), result.to_json())
    return result


def _finished_trial(output_dir: str, fingerprint: dict) -> TrialResult | None:
    """The finished trial the folder holds, or None when it must (re)run: absent,
    unfinished, or finished with damaged files (said in one line, then redone)."""
    try:
        stored = records.read_result(output_dir)
    except UserError as e:
        warn(f"{e}: redoing it")
        return None
    if stored is None or stored.get("status") == io.RUNNING:
        return None  # unfinished: start again (or resume from its checkpoint)
    if {k: stored.get(k) for k in fingerprint} != fingerprint:
        raise UserError(
            f"{output_dir} already holds a different finished trial; "
            "choose another --output or remove that folder"
        )
    problem = records.damage(output_dir, stored)
    if problem is not None:
        warn(f"{problem}; redoing the trial")
        return None
    known = {f.name for f in dataclasses.fields(TrialResult)}
    return TrialResult(**{k: v for k, v in stored.items() if k in known}, skipped=True)
