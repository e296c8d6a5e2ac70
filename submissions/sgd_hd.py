"""SGD-HD and SGDN-HD (Baydin et al., 2018): SGD whose learning rate is
learned online by hypergradient descent (``algoperf_lite.optim.hypergradient``).

momentum = 0 gives SGD-HD (direction g_t); momentum > 0 gives SGDN-HD with
Nesterov's direction d_t = g_t + mu * buf_t, buf_t = mu * buf_{t-1} + g_t.
L2 weight decay is added to the gradient first. ``multiplicative`` (0/1)
selects the paper's multiplicative rule. No schedule: alpha adapts itself.
alpha_t is logged at every evaluation (column ``optimizer/learning_rate``).
"""

import optax

from algoperf_lite.optim.hypergradient import current_learning_rate, hypergradient
from algoperf_lite.optim.momentum import scale_by_momentum
from algoperf_lite.optim.transforms import keep_dtype

# The paper's settings for SGD-HD / SGDN-HD: alpha_0 = 1e-3, beta = 1e-3.
HPARAMS = {
    "learning_rate": 1e-3,
    "hypergradient_lr": 1e-3,
    "momentum": 0.0,
    "weight_decay": 0.0,
    "multiplicative": 0.0,
    "label_smoothing": 0.0,
    "dropout_rate": 0.0,
}


def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformation:
    del step_hint  # the learning rate adapts instead of following a schedule
    return keep_dtype(
        optax.chain(
            optax.add_decayed_weights(hparams["weight_decay"]),
            hypergradient(
                scale_by_momentum(hparams["momentum"], nesterov=1.0),
                initial_lr=hparams["learning_rate"],
                hyper_lr=hparams["hypergradient_lr"],
                multiplicative=hparams["multiplicative"],
            ),
        )
    )


def log_values(opt_state) -> dict:
    return {"learning_rate": current_learning_rate(opt_state)}
