"""An AlgoPerf-API test file whose ``update_params`` takes ``train_state``: it
records what it was given, and otherwise trains plain SGD. It calls
``jax.tree_map`` (removed from current JAX as a rename) as v0.5 leaderboard
entries do."""

import jax
import optax
from algoperf import spec

HPARAMS = {"learning_rate": 0.1}
GIVEN = []  # the train_state of every step


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    del workload, model_state, rng
    tx = optax.sgd(hyperparameters.learning_rate)
    return tx.init(model_params), tx.update


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
    train_state,
):
    del current_params_types, loss_type, eval_results, global_step, hyperparameters
    GIVEN.append(dict(train_state))
    state, update = optimizer_state

    def loss_fn(p):
        logits, _ = workload.model_fn(
            p, batch, model_state, spec.ForwardPassMode.TRAIN, rng, True, 0.0
        )
        loss = workload.loss_fn(batch["targets"], logits)
        return loss["summed"] / loss["n_valid_examples"]

    grads = jax.tree_map(lambda g: g, jax.grad(loss_fn)(current_param_container))
    updates, state = update(grads, state)
    return (state, update), optax.apply_updates(current_param_container, updates), model_state


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
