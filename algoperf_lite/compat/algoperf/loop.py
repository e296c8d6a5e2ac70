"""Train an AlgoPerf-API submission: the loop of AlgoPerf's submission runner
(data_selection, update_params, evaluation every ``eval_every`` steps), with
our clock rules and our result files, so the scorer treats it like any trial.

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
import inspect
import math
import re
import sys
import time

import jax
from tqdm import tqdm

from algoperf_lite.compat.algoperf.workload import AlgoPerfWorkload
from algoperf_lite.train import program, result
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

    def charge(self, books: dict, elapsed: float) -> None:
        """``elapsed`` seconds of submission code: its compiles to compile time,
        the rest to submission time."""
        compiled = min(self.pending, elapsed)
        self.pending = 0.0
        books["compile_time_sec"] += compiled
        books["submission_time_sec"] += elapsed - compiled

    def untimed(self, books: dict) -> None:
        """Compiles outside the submission's code (evaluation) are compile time too."""
        books["compile_time_sec"] += self.pending
        self.pending = 0.0

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


def train(*args, **kwargs):
    """Train the file (see ``_train``) with JAX's renamed names supplied."""
    from algoperf_lite.compat.algoperf import renamed_jax_names

    with renamed_jax_names():
        return _train(*args, **kwargs)


def _train(
    workload,
    submission,
    hp,
    *,
    seed,
    max_steps,
    max_seconds,
    output_dir,
    stop_at_target,
    fingerprint,
    batch_size,
    sync_every,
    progress,
):
    module = submission.api
    replicated = uses_pmap(module)
    api_workload = AlgoPerfWorkload(workload, replicated=replicated)
    data = program.device_data(workload)
    x = data.train[0]
    _, _, evaluate = trial_functions(workload, submission, batch_size, len(x))
    books = result.fresh_books()
    tic = time.perf_counter()
    xs, ys, mask = data.eval_sets["validation"]
    # Our runner's three streams (see the module docstring), plus a fourth for the rest.
    init_key, dropout_key, data_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    opt_init_key, other_key = jax.random.split(init_key)
    model_params, model_state = api_workload.init_model_fn(init_key)
    one_copy = _unreplicated if replicated else (lambda tree: tree)
    evaluate = jax.jit(evaluate).lower(*one_copy((model_params, model_state)), xs, ys, mask)
    evaluate = evaluate.compile()
    books["compile_time_sec"] = time.perf_counter() - tic
    hyperparameters = _hyperparameters(hp)
    wall_start = time.perf_counter()

    tic = time.perf_counter()
    compiles = CompileClock()
    opt_state = module.init_optimizer_state(
        api_workload, model_params, model_state, hyperparameters, opt_init_key
    )
    queue = api_workload._build_input_queue(data_key, "train", None, batch_size)
    param_types = api_workload.model_params_types
    loss_type = api_workload.loss_type
    eval_results = []
    step, stopped_by = 0, "step_budget"
    wants_train_state = _accepts(module.update_params, "train_state")
    complete = _training_complete_errors()
    finished = False  # the file raised TrainingCompleteError
    books["next_eval"] = workload.eval_every
    bar = tqdm(
        total=max_steps,
        desc=f"{workload.name}/{submission.name}",
        unit="step",
        disable=not progress,
        leave=False,
    )
    try:
        while step < max_steps:
            update_key = jax.random.fold_in(dropout_key, step)  # the native dropout key
            select_key, prep_eval_key = jax.random.split(jax.random.fold_in(other_key, step))
            batch = module.data_selection(
                api_workload,
                queue,
                opt_state,
                model_params,
                model_state,
                hyperparameters,
                step,
                select_key,
            )
            extra = {"train_state": _train_state(books)} if wants_train_state else {}
            try:
                opt_state, model_params, model_state = module.update_params(
                    workload=api_workload,
                    current_param_container=model_params,
                    current_params_types=param_types,
                    model_state=model_state,
                    hyperparameters=hyperparameters,
                    batch=batch,
                    loss_type=loss_type,
                    optimizer_state=opt_state,
                    eval_results=eval_results,
                    global_step=step,
                    rng=update_key,
                    **extra,
                )
            except complete:
                finished = True
            step += 1
            due = step == books["next_eval"] or step == max_steps or finished
            if not (due or step % sync_every == 0):
                continue
            jax.block_until_ready(model_params)
            compiles.charge(books, time.perf_counter() - tic)
            bar.update(step - bar.n)
            if max_seconds is not None and books["submission_time_sec"] > max_seconds:
                stopped_by = "time_budget"
                break
            if due:
                books["next_eval"] += workload.eval_every
                if hasattr(module, "prepare_for_eval"):
                    # As AlgoPerf does, training goes on from what it returns, and
                    # its time is the submission's.
                    tic = time.perf_counter()
                    opt_state, model_params, model_state = module.prepare_for_eval(
                        api_workload,
                        model_params,
                        param_types,
                        model_state,
                        hyperparameters,
                        loss_type,
                        opt_state,
                        eval_results,
                        step,
                        prep_eval_key,
                    )
                    jax.block_until_ready(model_params)
                    compiles.charge(books, time.perf_counter() - tic)
                evaluated = one_copy((model_params, model_state))
                tic = time.perf_counter()
                metrics = program.evaluate_splits(evaluate, data, *evaluated)
                metrics = {k: float(v) for k, v in metrics.items()}
                books["eval_time_sec"] += time.perf_counter() - tic
                value = result.record_eval(books, metrics, step, workload, wall_start)
                if not all(math.isfinite(v) for v in books["rows"][-1].values()):
                    # The native runner stops on a non-finite training loss; here the
                    # file trains out of our sight, so a non-finite loss in the
                    # evaluation (beside a finite accuracy, say) is the sign.
                    value = math.nan
                eval_results.append((step, books["rows"][-1]))
                stop = result.stop_after_eval(value, workload, books, stop_at_target)
                if stop is not None:
                    stopped_by = stop
                    break
                if finished:
                    stopped_by = "training_complete"
                    break
            compiles.untimed(books)
            tic = time.perf_counter()
    finally:
        bar.close()
        compiles.close()
    books["total_duration_sec"] = time.perf_counter() - wall_start
    return result.finish(
        output_dir,
        fingerprint,
        workload,
        submission,
        batch_size,
        books,
        stopped_by,
        True,
        steps=step,
    )
