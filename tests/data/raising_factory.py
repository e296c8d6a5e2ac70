"""A submission whose make_optimizer raises."""

HPARAMS = {"learning_rate": 0.1}


def make_optimizer(hparams, step_hint):
    raise RuntimeError("forgot to write this")
