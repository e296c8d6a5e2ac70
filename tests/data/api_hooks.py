"""An AlgoPerf-API test file: plain SGD whose ``update_params`` has no
``train_state`` parameter, whose ``prepare_for_eval`` returns a new optimizer
state (an evaluation count) that training must go on from, and which raises
``spec.TrainingCompleteError`` at step ``stop_at``."""

import jax
import optax
from algoperf import spec

HPARAMS = {"learning_rate": 0.1, "stop_at": 1e9}
SEEN = []  # (global step, evaluation count the step was given)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    del workload, model_state, rng
    tx = optax.sgd(hyperparameters.learning_rate)
    return {"inner": tx.init(model_params), "update": tx.update, "evals": 0}


def update_params(
    workload,
    current_param_container,
    current_params_types,
    model_state,
    hyperparameters,
    batch,
    loss_type,
    optimizer_state,
    eval_results,
    global_step,
    rng,
):
    del current_params_types, loss_type, eval_results
    SEEN.append((global_step, optimizer_state["evals"]))
    if global_step >= hyperparameters.stop_at:
        raise spec.TrainingCompleteError

    def loss_fn(p):
        logits, _ = workload.model_fn(
            p, batch, model_state, spec.ForwardPassMode.TRAIN, rng, True, 0.0
        )
        loss = workload.loss_fn(batch["targets"], logits)
        return loss["summed"] / loss["n_valid_examples"]

    grads = jax.grad(loss_fn)(current_param_container)
    updates, inner = optimizer_state["update"](grads, optimizer_state["inner"])
    params = optax.apply_updates(current_param_container, updates)
    return {**optimizer_state, "inner": inner}, params, model_state


def prepare_for_eval(
    workload,
    current_param_container,
    current_params_types,
    model_state,
    hyperparameters,
    loss_type,
    optimizer_state,
    eval_results,
    global_step,
    rng,
):
    del workload, current_params_types, hyperparameters, loss_type, eval_results, rng
    del global_step
    return (
        {**optimizer_state, "evals": optimizer_state["evals"] + 1},
        current_param_container,
        model_state,
    )


def get_batch_size(workload_name):
    del workload_name
    return 32


def data_selection(
    workload,
    input_queue,
    optimizer_state,
    current_param_container,
    model_state,
    hyperparameters,
    global_step,
    rng,
):
    del workload, optimizer_state, current_param_container, model_state
    del hyperparameters, global_step, rng
    return next(input_queue)
