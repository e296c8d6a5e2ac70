"""An AlgoPerf-API submission as one lane of our training loop
(``algoperf_lite.train.loop``): the file drives each step as AlgoPerf's
submission runner does (``data_selection``, then ``update_params``), and the
loop keeps the budgets, evaluations, statuses and result files, so the scorer
treats it like any trial.

Keys: AlgoPerf's runner splits the seed into four keys (data, optimizer
init, model init, and a per-step key that each step folds with its number
and splits into data-selection, update, prepare-for-eval and eval keys). We
hand a file the same kinds of keys, derived from our runner's three streams
so that an API file and its native twin see the same initial weights
(model init key), the same batches and augmentation (data key), and the same
dropout (the update key of step t is the native dropout key of step t); the
data-selection, optimizer-init and prepare-for-eval keys come from a fourth
stream split off the init key. Our interpretation: the numbers do not match
an AlgoPerf run of the same seed (its data pipelines differ anyway), but the
two paths here agree exactly.

Clock: as for native trials, compilation is measured and kept out of the
submission's time (time to target): the file's own jit compiles inside
``update_params`` and ``prepare_for_eval`` are timed by JAX's compile events
and moved from the training clock to ``compile_time_sec``.

Per step, as AlgoPerf does: ``update_params`` gets ``train_state``
(AlgoPerf's nine bookkeeping keys) only when its signature names it;
``spec.TrainingCompleteError`` raised from it ends training after one last
evaluation; and what ``prepare_for_eval`` returns (optimizer state,
parameters, model state) is evaluated and trained on from then on, its time
counted as the submission's.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import inspect
import math
import re
import sys
import time
from typing import Any

import jax
import numpy as np

from algoperf_lite.compat.algoperf import renamed_jax_names
from algoperf_lite.compat.algoperf.workload import AlgoPerfWorkload
from algoperf_lite.train import program
from algoperf_lite.train.step import trial_functions


def _hyperparameters(hp: dict):
    """AlgoPerf hands submissions a namedtuple; attribute access must work."""
    return collections.namedtuple("Hyperparameters", sorted(hp))(**hp)


def _accepts(function, name: str) -> bool:
    parameters = inspect.signature(function).parameters.values()  # as AlgoPerf checks
    return any(p.name == name for p in parameters)


def _training_complete_errors() -> tuple[type, ...]:
    """``TrainingCompleteError`` of our ``algoperf.spec`` and of AlgoPerf's own,
    when that is what the file imported."""
    from algoperf_lite.compat.algoperf import spec

    theirs = getattr(
        sys.modules.get("algoperf.spec"), "TrainingCompleteError", spec.TrainingCompleteError
    )
    return tuple({spec.TrainingCompleteError, theirs})


def uses_pmap(module) -> bool:
    """Whether the file is of AlgoPerf's pmap era (its train step is a
    ``jax.pmap``): then it is given replicated state and per-device batches.
    Our reading of the source text, as AlgoPerf's runner has no such switch."""
    try:
        return re.search(r"\bjax\.pmap\b", inspect.getsource(module)) is not None
    except (OSError, TypeError):
        return False


def _unreplicated(tree):
    return jax.tree.map(lambda a: a[0], tree)


class CompileClock:
    """Seconds JAX spends compiling (tracing, lowering, backend compile), from
    its compile events, so a file's own jit compiles leave the training clock."""

    EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )

    def __init__(self):
        self.pending = 0.0
        jax.monitoring.register_event_duration_secs_listener(self._heard)

    def _heard(self, event: str, duration: float, **_) -> None:
        if event in self.EVENTS:
            self.pending += duration

    def take(self, elapsed: float = math.inf) -> float:
        """Seconds of compiling heard since the last call, at most ``elapsed``
        (what a stretch of ``elapsed`` seconds spent compiling)."""
        compiled = min(self.pending, elapsed)
        self.pending = 0.0
        return compiled

    def close(self) -> None:
        jax.monitoring.unregister_event_duration_listener(self._heard)


def _train_state(books: dict) -> dict:
    """AlgoPerf's ``train_state`` keys, from our books (seconds of the trial so far)."""
    return {
        "validation_goal_reached": books["reached_at"] is not None,
        "test_goal_reached": False,  # our runner stops at the validation target
        "is_time_remaining": True,
        "last_eval_time": books.get("last_eval_time", 0.0),
        "training_complete": False,
        "accumulated_submission_time": books["submission_time_sec"],
        "accumulated_eval_time": books["eval_time_sec"],
        "accumulated_logging_time": 0.0,
        "last_step_end_time": books.get("last_step_end_time"),
    }


@dataclasses.dataclass
class APIState:
    """What the file trains: AlgoPerf's three containers, and the step."""

    step: int
    params: Any
    model_state: Any
    opt_state: Any = None  # from init_optimizer_state, on the clock at the first step


class APIGroup:
    """One AlgoPerf-API trial as the loop's single lane (see ``train.group.Group``
    for what the loop asks of a group). ``books`` are the lane's, for the
    ``train_state`` that ``update_params`` may ask for."""

    size, batched, compiled = 1, False, True

    def __init__(self, workload, submission, hp, seed: int, batch_size: int, books: dict):
        module = self.module = submission.api
        self.books = books
        self.replicated = uses_pmap(module)
        self.api_workload = AlgoPerfWorkload(workload, replicated=self.replicated)
        self.data = program.device_data(workload)
        evaluate = trial_functions(
            workload, submission, batch_size, len(self.data.train[0])
        ).evaluate
        tic = time.perf_counter()
        xs, ys, mask = self.data.eval_sets["validation"]
        # Our runner's three streams (see the module docstring), plus a fourth for the rest.
        init_key, self.dropout_key, data_key = jax.random.split(jax.random.PRNGKey(seed), 3)
        self.opt_init_key, self.other_key = jax.random.split(init_key)
        params, model_state = self.api_workload.init_model_fn(init_key)
        self.evaluate_fn = (
            jax.jit(evaluate).lower(*self.one_copy((params, model_state)), xs, ys, mask).compile()
        )
        self.compile_seconds = time.perf_counter() - tic
        self.hyperparameters = _hyperparameters(hp)
        self.queue = self.api_workload._build_input_queue(data_key, "train", None, batch_size)
        self.wants_train_state = _accepts(module.update_params, "train_state")
        self.complete = _training_complete_errors()
        self.finished = False  # the file raised TrainingCompleteError
        self.eval_results = []
        self.state = APIState(0, params, model_state)
        self.compiles = None

    def one_copy(self, tree):
        return _unreplicated(tree) if self.replicated else tree

    @contextlib.contextmanager
    def running(self):
        """While the loop trains: JAX's renamed names supplied, compiles heard."""
        self.compiles = CompileClock()
        try:
            with renamed_jax_names():
                yield
        finally:
            self.compiles.close()

    def take_compile_seconds(self, elapsed: float = math.inf) -> float:
        return self.compiles.take(elapsed)

    def advance(self, state: APIState, start: int, stop: int):
        """The file's steps from ``start`` to ``stop``, or to the step that raised
        ``TrainingCompleteError``; returns the state and the step reached."""
        module, workload = self.module, self.api_workload
        if state.opt_state is None:
            state.opt_state = module.init_optimizer_state(
                workload, state.params, state.model_state, self.hyperparameters, self.opt_init_key
            )
        for step in range(start, stop):
            update_key = jax.random.fold_in(self.dropout_key, step)  # the native dropout key
            select_key, _ = jax.random.split(jax.random.fold_in(self.other_key, step))
            batch = module.data_selection(
                workload,
                self.queue,
                state.opt_state,
                state.params,
                state.model_state,
                self.hyperparameters,
                step,
                select_key,
            )
            extra = {"train_state": _train_state(self.books)} if self.wants_train_state else {}
            try:
                state.opt_state, state.params, state.model_state = module.update_params(
                    workload=workload,
                    current_param_container=state.params,
                    current_params_types=workload.model_params_types,
                    model_state=state.model_state,
                    hyperparameters=self.hyperparameters,
                    batch=batch,
                    loss_type=workload.loss_type,
                    optimizer_state=state.opt_state,
                    eval_results=self.eval_results,
                    global_step=step,
                    rng=update_key,
                    **extra,
                )
            except self.complete:
                self.finished = True
            state.step = step + 1
            if self.finished:
                break
        jax.block_until_ready(state.params)
        return state, state.step

    def keep(self, state):
        return None  # the file's state is its own: no replay

    def nonfinite(self, state) -> np.ndarray:
        # The file trains out of our sight: evaluation is where divergence shows.
        return np.zeros(1, bool)

    def prepare(self, state: APIState) -> APIState:
        """``prepare_for_eval`` where the file has one (on the clock): as AlgoPerf
        does, what it returns is evaluated and trained on from then on."""
        if not hasattr(self.module, "prepare_for_eval"):
            return state
        _, prep_eval_key = jax.random.split(jax.random.fold_in(self.other_key, state.step - 1))
        workload = self.api_workload
        state.opt_state, state.params, state.model_state = self.module.prepare_for_eval(
            workload,
            state.params,
            workload.model_params_types,
            state.model_state,
            self.hyperparameters,
            workload.loss_type,
            state.opt_state,
            self.eval_results,
            state.step,
            prep_eval_key,
        )
        jax.block_until_ready(state.params)
        return state

    def evaluate(self, state: APIState) -> list[dict]:
        params, model_state = self.one_copy((state.params, state.model_state))
        values = program.evaluate_splits(self.evaluate_fn, self.data, params, model_state)
        return [{k: float(v) for k, v in values.items()}]

    def diverged_at(self, metrics: dict) -> bool:
        """The native runner stops on a non-finite training loss; here the file
        trains out of our sight, so a non-finite evaluation loss (beside a finite
        accuracy, say) is the sign."""
        return not all(math.isfinite(v) for v in metrics.values())

    def evaluated(self, step: int, row: dict) -> None:
        self.eval_results.append((step, row))


def make_group(workload, submission, hp, seed: int, batch_size: int, books: dict) -> APIGroup:
    """The loop's group for an AlgoPerf-API file (``Submission.make_group``)."""
    with renamed_jax_names():
        return APIGroup(workload, submission, hp, seed, batch_size, books)
