"""A submission whose get_batch_size returns 0."""

import optax

HPARAMS = {"learning_rate": 0.1}


def get_batch_size(workload_name):
    return 0


def make_optimizer(hparams, step_hint):
    return optax.sgd(hparams["learning_rate"])
