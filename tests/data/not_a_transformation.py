"""A submission whose make_optimizer returns something other than an optax transformation."""

HPARAMS = {"learning_rate": 0.1}


def make_optimizer(hparams, step_hint):
    return {"lr": hparams["learning_rate"]}
