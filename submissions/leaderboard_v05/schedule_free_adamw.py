"""Re-expression of the v0.5 entry "Schedule-Free AdamW" (PyTorch only) with
``optax.contrib.schedule_free_adamw``: linear warmup over
``warmup_factor * step_hint`` steps, then a constant rate (schedule-free needs
no decay), weight-averaging power 2, decoupled weight decay; evaluated at the
averaged iterate x, trained at y, as the entry does. Our re-expression: the
entry's ``r = 0`` and its warmup shape are followed; PyTorch details (foreach
kernels, bias correction of beta2 in its warmup) are not.
"""

import jax.numpy as jnp
import optax

HPARAMS = {
    "learning_rate": 0.004,
    "one_minus_beta1": 0.1,
    "beta2": 0.9955,
    "weight_decay": 0.08,
    "warmup_factor": 0.02,
    "label_smoothing": 0.2,
    "dropout_rate": 0.0,
}


def make_optimizer(hparams, step_hint: int) -> optax.GradientTransformation:
    warmup = jnp.maximum(jnp.floor(hparams["warmup_factor"] * step_hint), 1.0)

    def rate(count):
        return hparams["learning_rate"] * jnp.minimum(1.0, (count + 1.0) / warmup)

    return optax.contrib.schedule_free_adamw(
        learning_rate=rate,
        b1=1.0 - hparams["one_minus_beta1"],
        b2=hparams["beta2"],
        weight_decay=hparams["weight_decay"],
        weight_lr_power=2.0,
    )


def eval_params(opt_state, params):
    return optax.contrib.schedule_free_eval_params(opt_state, params)
