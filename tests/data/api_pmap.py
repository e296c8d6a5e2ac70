"""An AlgoPerf-API test file of the pmap era: state replicated per device, the
batch with a leading device axis, gradients averaged with ``lax.psum``, and the
optimizer state built from ``workload.param_shapes`` and replicated."""

import functools

import jax
import jax.numpy as jnp
import optax
from algoperf import spec
from flax import jax_utils

HPARAMS = {"learning_rate": 0.1}


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    del model_params, model_state, rng
    tx = optax.sgd(hyperparameters.learning_rate)
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape_tuple), workload.param_shapes)
    return jax_utils.replicate(tx.init(zeros)), tx.update


@functools.partial(
    jax.pmap,
    axis_name="batch",
    in_axes=(None, None, 0, 0, 0, 0, 0),
    static_broadcasted_argnums=(0, 1),
)
def _train_step(workload, update_fn, model_state, opt_state, params, batch, rng):
    def loss_fn(p):
        logits, new_state = workload.model_fn(
            p, batch, model_state, spec.ForwardPassMode.TRAIN, rng, True, 0.0
        )
        loss = workload.loss_fn(batch["targets"], logits)
        return loss["summed"], (loss["n_valid_examples"], new_state)

    (summed, (count, new_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    summed, count, grads = jax.lax.psum((summed, count, grads), axis_name="batch")
    grads = jax.tree.map(lambda g: g / count, grads)
    updates, opt_state = update_fn(grads, opt_state, params)
    return opt_state, optax.apply_updates(params, updates), new_state


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
    opt_state, update_fn = optimizer_state
    rngs = jax.random.split(rng, jax.local_device_count())
    opt_state, params, model_state = _train_step(
        workload, update_fn, model_state, opt_state, current_param_container, batch, rngs
    )
    return (opt_state, update_fn), params, model_state


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
