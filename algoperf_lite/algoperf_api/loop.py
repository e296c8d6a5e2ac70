"""Train an AlgoPerf-API submission: the loop of AlgoPerf's submission runner
(data_selection, update_params, evaluation every ``eval_every`` steps), with
our clock rules and our result files, so the scorer treats it like any trial.

Per step, as AlgoPerf does: the step key is the seed's update key folded with
the step, split into data-selection, update and evaluation keys.
"""

from __future__ import annotations

import collections
import time
import types

import jax
from tqdm import tqdm

from algoperf_lite import runner
from algoperf_lite.algoperf_api.workload import AlgoPerfWorkload


def _hyperparameters(hp: dict):
    """AlgoPerf hands submissions a namedtuple; attribute access must work."""
    return collections.namedtuple("Hyperparameters", sorted(hp))(**hp)


def train(
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
    api_workload = AlgoPerfWorkload(workload)
    data = runner.device_data(workload)
    x = data.train[0]
    _, _, evaluate = runner.trial_functions(workload, submission, batch_size, len(x))
    books = runner._fresh_books()
    tic = time.perf_counter()
    xs, ys, mask = data.eval_sets["validation"]
    # The same three keys as our runner: same initial weights and batch order.
    init_key, update_key, data_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    model_params, model_state = api_workload.init_model_fn(init_key)
    program = types.SimpleNamespace(
        evaluate=jax.jit(evaluate).lower(model_params, model_state, xs, ys, mask).compile()
    )
    books["compile_time_sec"] = time.perf_counter() - tic
    hyperparameters = _hyperparameters(hp)
    wall_start = time.perf_counter()

    tic = time.perf_counter()
    opt_state = module.init_optimizer_state(
        api_workload, model_params, model_state, hyperparameters, update_key
    )
    queue = api_workload._build_input_queue(data_key, "train", None, batch_size)
    param_types = api_workload.model_params_types
    loss_type = api_workload.loss_type
    eval_results = []
    step, stopped_by = 0, "step_budget"
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
            step_key = jax.random.fold_in(update_key, step)
            select_key, step_update_key, eval_key = jax.random.split(step_key, 3)
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
                rng=step_update_key,
                train_state={"accumulated_submission_time": books["submission_time_sec"]},
            )
            step += 1
            due = step == books["next_eval"] or step == max_steps
            if not (due or step % sync_every == 0):
                continue
            jax.block_until_ready(model_params)
            books["submission_time_sec"] += time.perf_counter() - tic
            bar.update(step - bar.n)
            if max_seconds is not None and books["submission_time_sec"] > max_seconds:
                stopped_by = "time_budget"
                break
            if due:
                books["next_eval"] += workload.eval_every
                evaluated = model_params, model_state
                if hasattr(module, "prepare_for_eval"):
                    _, prepared, prepared_state = module.prepare_for_eval(
                        api_workload,
                        model_params,
                        param_types,
                        model_state,
                        hyperparameters,
                        loss_type,
                        opt_state,
                        eval_results,
                        step,
                        eval_key,
                    )
                    evaluated = prepared, prepared_state
                state = types.SimpleNamespace(
                    params=evaluated[0], model_state=evaluated[1], step=step, opt_state=opt_state
                )
                value = runner._evaluate(
                    program, state, data, workload, submission, books, wall_start
                )
                eval_results.append((step, books["rows"][-1]))
                stop = runner.stop_after_eval(value, workload, books, stop_at_target)
                if stop is not None:
                    stopped_by = stop
                    break
            tic = time.perf_counter()
    finally:
        bar.close()
    books["total_duration_sec"] = time.perf_counter() - wall_start
    return runner._finish(
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
