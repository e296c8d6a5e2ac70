"""Test submission that forgot make_optimizer."""

HPARAMS = {"learning_rate": 0.1}
