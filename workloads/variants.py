"""Held-out variants, AlgoPerf style: each changes one architectural choice of
a base workload (same data, loss, batch size and budget) and gets its own
target by the same procedure. They test whether a submission's tuning
transfers to a nearby workload it was not tuned on."""

import dataclasses
import functools

import flax.linen as nn

from algoperf_lite.core.layers import Dropout
from workloads import char_lm, digits, logreg, mnist1d, regression


class GeluMLP(nn.Module):
    """mnist1d_mlp with GELU instead of ReLU."""

    @nn.compact
    def __call__(self, x, *, train: bool, dropout_rate=0.0):
        x = x.reshape((x.shape[0], -1))
        for width in (100, 100):
            x = nn.gelu(nn.Dense(width)(x))
            x = Dropout()(x, dropout_rate, train=train)
        return nn.Dense(10)(x)


class LayerNormCNN(nn.Module):
    """digits_cnn with layer norm in place of batch norm (no model state)."""

    @nn.compact
    def __call__(self, x, *, train: bool, dropout_rate=0.0):
        for features in (16, 32):
            x = nn.relu(nn.LayerNorm()(nn.Conv(features, (3, 3), padding="SAME")(x)))
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        x = Dropout()(nn.relu(nn.Dense(64)(x)), dropout_rate, train=train)
        return nn.Dense(10)(x)


def _variant(base, name, change, **model_kwargs):
    return dataclasses.replace(
        base,
        name=name,
        description=f"{base.name} with {change}",
        make_model=functools.partial(base.make_model, **model_kwargs),
        variant_of=base.name,
    )


VARIANTS = (
    dataclasses.replace(
        mnist1d.MLP,
        name="mnist1d_mlp_gelu",
        description="mnist1d_mlp with GELU activations",
        make_model=GeluMLP,
        variant_of=mnist1d.MLP.name,
    ),
    _variant(mnist1d.CNN, "mnist1d_cnn_wide", "48 channels instead of 32", channels=48),
    dataclasses.replace(
        digits.CNN,
        name="digits_cnn_layernorm",
        description="digits_cnn with layer norm instead of batch norm",
        make_model=LayerNormCNN,
        variant_of=digits.CNN.name,
    ),
    _variant(logreg.LOGREG, "digits_logreg_init", "N(0, 1) initial weights", init_scale=1.0),
    _variant(regression.MLP, "teacher_mlp_regression_tanh", "tanh activations", activation="tanh"),
    _variant(
        char_lm.TRANSFORMER,
        "char_lm_transformer_temp",
        "attention logits scaled by 2",
        attention_temperature=2.0,
    ),
)
