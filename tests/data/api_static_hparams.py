"""An AlgoPerf-API test file with no HPARAMS whose hyperparameters select code
paths, as NadamP's ``nesterov`` and Amos's ``style`` do: a boolean, a string
and an integer, read in Python."""

import jax
import optax
from algoperf import spec

SEEN = []  # the hyperparameters each trial was given


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    del workload, model_state, rng
    hp = hyperparameters._asdict()
    SEEN.append(hp)
    if not isinstance(hp["nesterov"], bool) or hp["style"] not in ("plain", "reduced"):
        raise TypeError(f"static hyperparameters arrived as {hp}")
    if not isinstance(hp["warmup_steps"], int):
        raise TypeError(f"warmup_steps arrived as {hp['warmup_steps']!r}")
    lr = hp["learning_rate"] * (0.5 if hp["style"] == "reduced" else 1.0)
    schedule = optax.linear_schedule(0.0, lr, hp["warmup_steps"])
    tx = optax.sgd(schedule, momentum=0.9, nesterov=hp["nesterov"])
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
):
    del current_params_types, loss_type, eval_results, global_step, hyperparameters
    state, update = optimizer_state

    def loss_fn(p):
        logits, _ = workload.model_fn(
            p, batch, model_state, spec.ForwardPassMode.TRAIN, rng, True, 0.0
        )
        loss = workload.loss_fn(batch["targets"], logits)
        return loss["summed"] / loss["n_valid_examples"]

    updates, state = update(jax.grad(loss_fn)(current_param_container), state)
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
