"""Plain SGD: no momentum, no weight decay, a constant learning rate.

The negative control of the baselines: a benchmark whose scores do not put
this below NAdamW cannot tell a good training algorithm from a weak one.
"""

import optax

from algoperf_lite.optim.transforms import keep_dtype

HPARAMS = {
    "learning_rate": 0.1,
    "label_smoothing": 0.0,  # reaches the loss
    "dropout_rate": 0.0,  # reaches the model
}


def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformation:
    del step_hint  # constant: no schedule
    return keep_dtype(optax.sgd(hparams["learning_rate"]))
