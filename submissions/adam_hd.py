"""Adam-HD (Baydin et al., 2018): Adam whose learning rate is learned online
by hypergradient descent from <g_t, u_{t-1}>, u = m_hat / (sqrt(v_hat) + eps).

L2 weight decay is added to the gradient first. ``multiplicative`` (0/1)
selects the paper's multiplicative rule. alpha_t is logged at every
evaluation (column ``optimizer/learning_rate``).
"""

import optax

from algoperf_lite.optim.hypergradient import current_learning_rate, hypergradient
from algoperf_lite.optim.transforms import keep_dtype

# The paper's settings for Adam-HD on logistic regression and the MLP:
# alpha_0 = 1e-3, beta = 1e-7 (1e-8 for VGG), Adam's usual moments.
HPARAMS = {
    "learning_rate": 1e-3,
    "hypergradient_lr": 1e-7,
    "one_minus_beta1": 0.1,
    "beta2": 0.999,
    "epsilon": 1e-8,
    "weight_decay": 0.0,
    "multiplicative": 0.0,
    "label_smoothing": 0.0,
    "dropout_rate": 0.0,
}


def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformation:
    del step_hint
    adam = optax.scale_by_adam(
        b1=1.0 - hparams["one_minus_beta1"], b2=hparams["beta2"], eps=hparams["epsilon"]
    )
    return keep_dtype(
        optax.chain(
            optax.add_decayed_weights(hparams["weight_decay"]),
            hypergradient(
                adam,
                initial_lr=hparams["learning_rate"],
                hyper_lr=hparams["hypergradient_lr"],
                multiplicative=hparams["multiplicative"],
            ),
        )
    )


def log_values(opt_state) -> dict:
    return {"learning_rate": current_learning_rate(opt_state)}
