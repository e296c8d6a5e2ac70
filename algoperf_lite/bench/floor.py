"""The independent floor of ``make bench``: for each offline workload, the
fastest plain training loop we can write that shares no code with the project.

Its own Flax model (the workload's architecture, layer for layer, so it does
the same work: a test checks the parameter counts agree), ``optax.nadamw``
with optax's warmup-cosine schedule, softmax cross-entropy or squared error
from optax, and its own batching: the training set on the device, one
permutation per epoch, each batch sliced on the device. Only the arrays come
from the workload. Two ways to drive it are timed and the faster counts: all
steps fused in one ``lax.fori_loop``, or one jitted call per step (XLA's CPU
convolutions run slower inside a device loop).
"""

from __future__ import annotations

import functools
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


class _MLP(nn.Module):
    widths: tuple
    outputs: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x, train):
        x = x.reshape((x.shape[0], -1))
        for width in self.widths:
            x = getattr(nn, self.activation)(nn.Dense(width)(x))
        return nn.Dense(self.outputs)(x)


class _Conv1D(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        x = x[..., None]
        for kernel in (5, 3, 3):
            x = nn.relu(nn.Conv(32, (kernel,), strides=(2,), padding="SAME")(x))
        return nn.Dense(10)(x.reshape((x.shape[0], -1)))


class _Conv2DBatchNorm(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        for features in (16, 32):
            x = nn.Conv(features, (3, 3), padding="SAME")(x)
            x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(x))
        x = nn.avg_pool(x, (2, 2), strides=(2, 2)).reshape((x.shape[0], -1))
        return nn.Dense(10)(nn.relu(nn.Dense(64)(x)))


class _Block(nn.Module):
    heads: int

    @nn.compact
    def __call__(self, x):
        length, width = x.shape[1], x.shape[2]
        h = nn.LayerNorm()(x)
        qkv = nn.DenseGeneral((3, self.heads, width // self.heads))(h)
        logits = jnp.einsum("bqhd,bkhd->bhqk", qkv[:, :, 0], qkv[:, :, 1])
        logits = logits / jnp.sqrt(width // self.heads)
        mask = jnp.tril(jnp.ones((length, length), bool))
        weights = nn.softmax(jnp.where(mask, logits, -1e30), axis=-1)
        attended = jnp.einsum("bhqk,bkhd->bqhd", weights, qkv[:, :, 2])
        x = x + nn.DenseGeneral(width, axis=(-2, -1))(attended)
        h = nn.Dense(4 * width)(nn.LayerNorm()(x))
        return x + nn.Dense(width)(nn.gelu(h))


class _CharTransformer(nn.Module):
    vocab: int
    length: int

    @nn.compact
    def __call__(self, tokens, train):
        x = nn.Embed(self.vocab, 32)(tokens)
        x = x + self.param("positions", nn.initializers.normal(0.02), (self.length, 32))
        for _ in range(2):
            x = _Block(2)(x)
        return nn.Dense(self.vocab)(nn.LayerNorm()(x))


def model_for(name: str, x, y) -> tuple[nn.Module, str]:
    """The floor's twin of an offline workload's model, and its loss kind."""
    if name == "mnist1d_mlp":
        return _MLP((100, 100), 10), "classes"
    if name == "mnist1d_cnn":
        return _Conv1D(), "classes"
    if name == "digits_cnn":
        return _Conv2DBatchNorm(), "classes"
    if name == "digits_logreg":
        return _MLP((), 10), "classes"
    if name == "teacher_mlp_regression":
        return _MLP((64, 64), 1), "squares"
    if name == "char_lm_transformer":
        return _CharTransformer(128, x.shape[1]), "classes"  # ASCII tokens
    raise KeyError(f"no floor model for {name!r}")


def loop(name: str, x, y, batch_size: int, step_hint: int, fused: bool):
    """``run(n) -> seconds`` for n training steps of the floor (state carried on)."""
    model, kind = model_for(name, x, y)
    x, y = jnp.asarray(x), jnp.asarray(y)
    per_epoch = len(x) // batch_size
    schedule = optax.warmup_cosine_decay_schedule(0.0, 1e-3, max(step_hint // 20, 1), step_hint)
    tx = optax.nadamw(schedule, b1=0.9, b2=0.999, weight_decay=1e-4)
    variables = model.init(jax.random.PRNGKey(0), x[:1], False)
    params, stats = variables["params"], {k: v for k, v in variables.items() if k != "params"}

    def loss(params, stats, bx, by):
        if stats:
            out, stats = model.apply({"params": params, **stats}, bx, True, mutable=list(stats))
        else:
            out = model.apply({"params": params}, bx, True)
        if kind == "squares":
            return jnp.mean(optax.l2_loss(out, by)), stats
        return optax.softmax_cross_entropy_with_integer_labels(out, by).mean(), stats

    data_key = jax.random.PRNGKey(1)

    def step(carry, i):
        params, stats, opt_state, order = carry
        epoch, position = jnp.divmod(i, per_epoch)
        order = jax.lax.cond(
            position == 0,
            lambda: jax.random.permutation(jax.random.fold_in(data_key, epoch), len(x)),
            lambda: order,
        )
        take = jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)
        grads, stats = jax.grad(loss, has_aux=True)(params, stats, x[take], y[take])
        updates, opt_state = tx.update(grads, opt_state, params)
        return params, stats, opt_state, order, updates

    def one(carry, i):
        params, stats, opt_state, order, updates = step(carry, i)
        return optax.apply_updates(params, updates), stats, opt_state, order

    @functools.partial(jax.jit, donate_argnums=0, static_argnums=2)
    def many(carry, start, n):
        return jax.lax.fori_loop(start, start + n, lambda i, c: one(c, i), carry)

    single = jax.jit(one, donate_argnums=0)
    state = [(params, stats, tx.init(params), jnp.arange(len(x))), 0]

    def run(n: int) -> float:
        carry, start = state
        tic = time.perf_counter()
        if fused:
            carry = many(carry, start, n)
        else:
            for i in range(start, start + n):
                carry = single(carry, i)
        jax.block_until_ready(carry)
        seconds = time.perf_counter() - tic
        state[:] = [carry, start + n]
        return seconds

    return run


def parameter_count(name: str, x, y) -> int:
    model, _ = model_for(name, x, y)
    variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x[:1], False))
    return sum(a.size for a in jax.tree.leaves(variables["params"]))
