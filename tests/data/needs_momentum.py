"""Test submission: a hyperparameter without a default must be given."""

import optax

HPARAMS = {"learning_rate": 0.1, "momentum": None}


def make_optimizer(hparams, step_hint):
    return optax.sgd(hparams["learning_rate"], momentum=None)
