"""Our NAdamW written to AlgoPerf's submission API, as an example of a
submission that runs unchanged here and in AlgoPerf (where ``algoperf`` is the
real package). The update rule is ``submissions/nadamw.py``'s; what differs is
the interface: state in, state out, one jitted step per call.

    algoperf-lite run --workload mnist1d_mlp --submission submissions/algoperf_api/nadamw_api.py
"""

import functools

import jax
import optax
from algoperf import jax_sharding_utils, spec

from submissions import nadamw

# Defaults for running without --hparams (AlgoPerf itself reads a search space).
HPARAMS = dict(nadamw.HPARAMS)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    del model_state, rng
    tx = nadamw.make_optimizer(hyperparameters._asdict(), workload.step_hint)
    return tx.init(model_params), tx.update


@functools.partial(jax.jit, static_argnums=(0, 1))
def _train_step(workload, update_fn, model_state, opt_state, params, batch, rng, hp):
    def loss_fn(p):
        logits, new_state = workload.model_fn(
            p, batch, model_state, spec.ForwardPassMode.TRAIN, rng, True, hp["dropout_rate"]
        )
        loss = workload.loss_fn(batch["targets"], logits, None, hp["label_smoothing"])
        return loss["summed"] / loss["n_valid_examples"], new_state

    (_, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
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
    train_state=None,
):
    del current_params_types, loss_type, eval_results, global_step, train_state
    opt_state, update_fn = optimizer_state
    batch = jax_sharding_utils.shard_along_batch_dim(batch)
    hp = {k: hyperparameters._asdict()[k] for k in ("dropout_rate", "label_smoothing")}
    opt_state, params, model_state = _train_step(
        workload, update_fn, model_state, opt_state, current_param_container, batch, rng, hp
    )
    return (opt_state, update_fn), params, model_state


def get_batch_size(workload_name):
    del workload_name
    return 128


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
