"""One trial's pure functions: the state, ``init``, ``step`` and ``evaluate``
(jit them, vmap them, shard them), and how steps are driven between clock reads."""

from __future__ import annotations

from typing import Any, NamedTuple

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from algoperf_lite.core.errors import UserError
from algoperf_lite.core.spec import Submission, Workload


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


class TrialFunctions(NamedTuple):
    init: Any  # (seed_key, hparams, sample_x) -> TrialState
    step: Any  # (state, hparams, x, y) -> (state, loss)
    evaluate: Any  # (params, model_state, xs, ys, mask) -> {metric: mean}
    start: Any  # init's workload part, see ``init_functions``
    with_optimizer: Any  # init's submission part


def trial_functions(
    workload: Workload,
    submission: Submission,
    batch_size: int,
    num_train: int,
    batch_sharding=None,
):
    """``init``, ``step`` and ``evaluate`` (see ``TrialFunctions``) for one
    workload and submission.

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

    start, with_optimizer, init = init_functions(workload, submission, model, shuffle)

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

    return TrialFunctions(init, step, evaluation_function(workload, model), start, with_optimizer)


def init_functions(workload: Workload, submission: Submission, model, shuffle):
    """A trial's first state in two parts. ``start(seed_key, sample_x)``: the
    workload's part (weights, model state, random streams, first epoch's
    order), the same program for every submission, so it compiles once per
    workload and loads from the persistent cache for a new submission;
    ``with_optimizer(state, hparams)``: the submission's optimizer state.
    ``init(seed_key, hparams, sample_x)`` is both. The seed splits into three
    streams: initial weights, dropout and data order."""
    step_hint = workload.step_hint

    def start(seed_key, sample_x):
        init_key, dropout_key, data_key = jax.random.split(seed_key, 3)
        variables = model.init({"params": init_key}, sample_x, train=False)
        variables = flax.core.unfreeze(variables)
        params = variables.pop("params")
        return TrialState(
            order=shuffle(data_key, 0),
            step=jnp.zeros([], jnp.int32),
            params=params,
            opt_state=None,
            model_state=variables,
            rng=dropout_key,
            data_rng=data_key,
            nonfinite=jnp.zeros([], bool),
        )

    def with_optimizer(state, hparams):
        optimizer = submission.make_optimizer(hparams, step_hint)
        return state.replace(opt_state=optimizer.init(state.params))

    def init(seed_key, hparams, sample_x):
        return with_optimizer(start(seed_key, sample_x), hparams)

    return start, with_optimizer, init


def evaluation_function(workload: Workload, model):
    """``evaluate(params, model_state, xs, ys, mask)``: the workload's metrics
    averaged over the unmasked examples of a split stored in chunks."""

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

    return evaluate


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
