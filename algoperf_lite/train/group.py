"""A group: K trials' compiled program, inputs and state, seen as lanes (K = 1:
one trial's unbatched program, data-parallel over a mesh where one is given;
K > 1: the vmapped program, spread over a "trials" mesh where one is given)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from algoperf_lite.core.spec import Submission
from algoperf_lite.train import step as steps
from algoperf_lite.train.program import (
    DeviceData,
    compiled_program,
    device_data,
    evaluate_splits,
    replicated_data,
    vector_program,
)
from algoperf_lite.train.result import out_of_memory


def traced_names(hp: Mapping[str, Any]) -> tuple[str, ...]:
    """The hyperparameters the compiled step takes as arguments. A dropout rate
    of exactly 0 is left out, so the model sees a constant 0 and draws no
    masks; a study mixing 0 and other rates compiles two programs."""
    return tuple(sorted(k for k in hp if not (k == "dropout_rate" and hp[k] == 0)))


# Fresh buffers for every leaf (jit does not forward a copied input).
_copy_tree = jax.jit(lambda tree: jax.tree.map(jnp.copy, tree))


@dataclasses.dataclass
class Group:
    """A compiled program and its inputs, seen as lanes: one trial's program
    (``batched`` False, one lane) or a vmapped group's (``size`` lanes, padding
    included). ``state`` is None when compiling ran out of memory."""

    program: Any
    data: DeviceData | None
    hparams: Any
    submission: Submission
    size: int
    batched: bool
    compiled: bool
    state: Any = None

    @classmethod
    def build(cls, workload, submission, hps, seeds, batched, fuse, mesh, size) -> Group:
        batch_size = submission.batch_size(workload)
        if batched:
            devices = 1 if mesh is None else mesh.size
            size = max(size or 0, len(hps))
            size += -size % devices
            padded = [*range(len(hps)), *[len(hps) - 1] * (size - len(hps))]
            names = tuple(sorted(hps[0]))
            hp = {k: np.asarray([hps[i][k] for i in padded], np.float32) for k in names}
            keys = np.stack([jax.random.key_data(jax.random.PRNGKey(seeds[i])) for i in padded])
        else:
            size, names = 1, traced_names(hps[0])
            hp = {k: np.float32(hps[0][k]) for k in names}
            keys = np.asarray(jax.random.key_data(jax.random.PRNGKey(seeds[0])))
        try:
            if batched:
                program, compiled = vector_program(
                    workload, submission, names, batch_size, size, fuse, mesh
                )
            else:
                program, compiled = compiled_program(
                    workload, submission, names, batch_size, fuse, mesh
                )
        except jax.errors.JaxRuntimeError as e:
            if not out_of_memory(e):
                raise
            return cls(None, None, None, submission, size, batched, False)
        if mesh is None:
            data, where = device_data(workload), None
        elif batched:
            data, where = device_data(workload), program.sharding
        else:
            data = replicated_data(workload, mesh)
            where = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        x = data.train[0]
        sample = np.zeros((batch_size, *x.shape[1:]), x.dtype)
        # On the device once, not sent with every call.
        hp, keys = jax.device_put((hp, keys), where)
        if not batched:
            sample = jax.device_put(sample, where)
        state = jax.block_until_ready(program.init(keys, hp, sample))
        return cls(program, data, hp, submission, size, batched, compiled, state)

    # What the loop asks of a group: these, and the methods below. A group that
    # another program drives (an AlgoPerf-API file) answers them its own way.
    finished = False  # the submission declared training complete

    @property
    def compile_seconds(self) -> float:
        return self.program.compile_seconds

    def running(self):
        """A context held while the loop trains."""
        return contextlib.nullcontext()

    def take_compile_seconds(self, elapsed: float = math.inf) -> float:
        """Seconds of compiling inside the last ``elapsed`` seconds on the clock
        (ours compiles ahead of time: none)."""
        return 0.0

    def advance(self, state, start: int, stop: int):
        """Train from ``start`` to ``stop``; the state and the step reached."""
        x, y = self.data.train
        return steps.advance(self.program, state, self.hparams, x, y, start, stop)

    def keep(self, state):
        """The state at a chunk's start, to replay the chunk: a fused loop keeps
        its input; a dispatch per step donates it, so there it is a copy, made
        in one dispatch and waited for, so that none of it runs on the clock."""
        if self.program.steps is not None:
            return state
        return jax.block_until_ready(_copy_tree(state))

    def nonfinite(self, state) -> np.ndarray:
        """Per lane: has a training loss been NaN or inf (reading it waits for the device)."""
        return np.asarray(state.nonfinite).reshape(-1)

    def prepare(self, state):
        """Before an evaluation, on the clock: nothing to do for our submissions."""
        return state

    def diverged_at(self, metrics: dict) -> bool:
        """Whether an evaluation alone shows divergence (ours shows in training)."""
        return False

    def evaluated(self, step: int, row: dict) -> None:
        """Told of each evaluation row."""

    def evaluate(self, state) -> list[dict]:
        """Every lane's metrics on every evaluation split (and its logged values)."""
        params = evaluated_params(self.submission, state.opt_state, state.params, self.batched)
        values = evaluate_splits(self.program.evaluate, self.data, params, state.model_state)
        pick = (lambda v, lane: v[lane]) if self.batched else (lambda v, lane: v)
        metrics = [
            {k: float(pick(v, lane)) for k, v in values.items()} for lane in range(self.size)
        ]
        if self.submission.log_values is not None:
            # Fetched once; each lane's values are sliced on the host.
            opt_state = jax.device_get(state.opt_state) if self.batched else state.opt_state
            for lane, row in enumerate(metrics):
                own = jax.tree.map(lambda a, i=lane: a[i], opt_state) if self.batched else opt_state
                logged = self.submission.log_values(own)
                row.update({f"optimizer/{k}": float(v) for k, v in logged.items()})
        return metrics

    def lane_state(self, state, lane: int):
        """One lane's state, as a single trial's (the step counter is shared)."""
        if not self.batched:
            return state
        fields = [f.name for f in dataclasses.fields(state) if f.name != "step"]
        return state.replace(
            **{f: jax.tree.map(lambda a: a[lane], getattr(state, f)) for f in fields}
        )

    def stacked(self, states: list):
        """The group's state from its lanes' (the inverse of ``lane_state``)."""
        if not self.batched:
            return states[0]
        states = [*states, *[states[-1]] * (self.size - len(states))]
        stacked = jax.tree.map(lambda *a: jnp.stack(a), *states)
        return stacked.replace(step=states[0].step)


def evaluated_params(submission, opt_state, params, lanes: bool = False):
    """The parameters an evaluation sees: the submission's ``eval_params`` of
    its state where it has one (vmapped over trials with ``lanes``), else ``params``."""
    if submission.eval_params is None:
        return params
    return _compiled_pick(submission.eval_params, lanes)(opt_state, params)


@functools.cache
def _compiled_pick(eval_params, lanes: bool):
    return jax.jit(jax.vmap(eval_params) if lanes else eval_params)
