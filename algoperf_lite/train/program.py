"""Compiled programs and device data, built once per workload and submission:
one trial's (``compiled_program``, optionally data-parallel over a mesh) and a
group's (``vector_program``: K trials vmapped, optionally spread over devices)."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from algoperf_lite.core.errors import UserError
from algoperf_lite.core.spec import Submission, Workload
from algoperf_lite.train.step import TrialState, training_programs, trial_functions


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


def evaluate_splits(evaluate, data: DeviceData, params, model_state) -> dict:
    """``{"split/metric": value}`` of a compiled ``evaluate`` on every
    evaluation split, fetched from the device (per lane where ``evaluate`` is vmapped)."""
    # Every split dispatched before any is fetched: one wait, not one per split.
    values = {
        split: evaluate(params, model_state, *data.eval_sets[split]) for split in data.eval_sets
    }
    values = jax.device_get(values)
    return {f"{split}/{k}": v for split, row in values.items() for k, v in row.items()}


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
    functions = trial_functions(workload, submission, batch_size, len(x), batch_sharding)
    hp = {k: jax.ShapeDtypeStruct((), jnp.float32) for k in hparam_names}
    # Data parallel: everything but the batch is replicated on the mesh's devices.
    place = {}
    if mesh is not None:
        everywhere = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        place = dict(in_shardings=everywhere, out_shardings=everywhere)
    tic = time.perf_counter()
    start, evaluate = workload_programs(workload, functions, data, mesh, place)
    started = start.out_info
    with_optimizer = jax.jit(functions.with_optimizer, donate_argnums=0, **place)
    with_optimizer = with_optimizer.lower(started, hp).compile()
    state = jax.eval_shape(functions.with_optimizer, started, hp)
    step_c, steps_c = training_programs(functions.step, (state, hp, x, y), fuse, place, place)
    init = _chained(start, with_optimizer)
    program = Program(init, step_c, evaluate, time.perf_counter() - tic, steps_c, mesh)
    _PROGRAMS[key] = program
    return program, True


_WORKLOAD_PROGRAMS: dict[tuple, tuple] = {}


def workload_programs(workload: Workload, functions, data: DeviceData, mesh, place) -> tuple:
    """The compiled ``start`` (a trial's first state but for its optimizer) and
    ``evaluate``: they depend on the workload alone, so every submission
    shares them (in this process, and through the persistent compilation
    cache across processes)."""
    key = (workload, mesh)
    if key not in _WORKLOAD_PROGRAMS:
        x = data.train[0]
        seed_key = jax.ShapeDtypeStruct((2,), jnp.uint32)
        # One example: the weights do not depend on the batch size.
        sample = jax.ShapeDtypeStruct((1, *x.shape[1:]), x.dtype)
        start = jax.jit(functions.start, **place).lower(seed_key, sample).compile()
        first = start.out_info
        xs, ys, mask = data.eval_sets["validation"]
        evaluate = jax.jit(functions.evaluate, **place)
        evaluate = evaluate.lower(first.params, first.model_state, xs, ys, mask).compile()
        _WORKLOAD_PROGRAMS[key] = start, evaluate
    return _WORKLOAD_PROGRAMS[key]


def _chained(start, with_optimizer):
    def init(seed_key, hparams, sample_x):
        return with_optimizer(start(seed_key, sample_x[:1]), hparams)

    return init


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
    return one_axis_mesh("trials", devices)


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
    data = device_data(workload)
    x, y = data.train
    functions = trial_functions(workload, submission, batch_size, len(x))
    # The trials of a group move in lockstep: one shared step counter keeps the
    # once-per-epoch shuffle a real branch (a per-trial counter would turn it
    # into a select that shuffles every step).
    lanes = TrialState(*[0] * len(dataclasses.fields(TrialState)))
    lanes = lanes.replace(step=None)
    v_start = jax.vmap(functions.start, in_axes=(0, None), out_axes=lanes)
    v_with_optimizer = jax.vmap(functions.with_optimizer, in_axes=(lanes, 0), out_axes=lanes)
    v_step = jax.vmap(functions.step, in_axes=(lanes, 0, None, None), out_axes=(lanes, 0))
    v_eval = jax.vmap(functions.evaluate, in_axes=(0, 0, None, None, None))
    sharding, state_sharding = None, None
    if mesh is not None:
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("trials"))
        everywhere = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        state_sharding = jax.tree.map(
            lambda a: everywhere if a is None else sharding, lanes, is_leaf=lambda a: a is None
        )
    hp = {k: jax.ShapeDtypeStruct((size,), jnp.float32, sharding=sharding) for k in hparam_names}
    keys = jax.ShapeDtypeStruct((size, 2), jnp.uint32, sharding=sharding)
    sample = jax.ShapeDtypeStruct((1, *x.shape[1:]), x.dtype)

    def placed(outputs):
        return {} if mesh is None else dict(out_shardings=outputs)

    def laid_out(shapes):  # every leaf along the trial axis but the shared (scalar) counter
        if mesh is None:
            return shapes
        return jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(
                a.shape, a.dtype, sharding=sharding if a.shape else everywhere
            ),
            shapes,
        )

    tic = time.perf_counter()
    start, _ = workload_programs(workload, functions, data, None, {})
    started = laid_out(jax.eval_shape(v_start, keys, sample))
    with_optimizer = jax.jit(v_with_optimizer, **placed(state_sharding))
    with_optimizer = with_optimizer.lower(started, hp).compile()
    state = laid_out(jax.eval_shape(v_with_optimizer, started, hp))
    step_c, steps_c = training_programs(
        v_step,
        (state, hp, x, y),
        fuse,
        placed((state_sharding, sharding)),
        placed(state_sharding),
    )
    xs, ys, mask = data.eval_sets["validation"]
    eval_c = jax.jit(v_eval, **placed(sharding))
    eval_c = eval_c.lower(state.params, state.model_state, xs, ys, mask).compile()
    init = _lane_starts(start, with_optimizer, state_sharding)
    program = VectorProgram(
        init, step_c, eval_c, time.perf_counter() - tic, size, steps_c, sharding
    )
    _PROGRAMS[key] = program
    return program, True


def _lane_starts(start, with_optimizer, sharding):
    """A group's first state: each lane's start by the one-trial program (so a
    lane starts exactly as its trial alone does, and nothing new compiles),
    stacked on the host, then the lanes' optimizer states, vmapped."""

    def init(seed_keys, hparams, sample_x):
        starts = [jax.device_get(start(key, sample_x[:1])) for key in np.asarray(seed_keys)]
        state = jax.tree.map(lambda *a: np.stack(a), *starts)
        state = state.replace(step=starts[0].step)
        return with_optimizer(jax.device_put(state, sharding), hparams)

    return init


def step_bytes(program: VectorProgram) -> int:
    """Device bytes the compiled training program needs (per device)."""
    stats = (program.steps or program.step).memory_analysis()
    if stats is None:
        return 0
    used = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    return used - stats.alias_size_in_bytes
