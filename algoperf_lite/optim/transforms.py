"""Small optax helpers shared by submissions."""

import jax
import jax.numpy as jnp
import optax


def keep_dtype(inner: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
    """``inner`` with its updates cast to the gradients' dtypes and its state to
    the dtypes it was initialized with.

    Hyperparameters arrive as float32 arrays, so arithmetic with them promotes
    bf16 updates and moments to float32; this keeps bf16 training in bf16 and
    keeps the state's types stable, as ``lax.scan`` carries require.
    """

    inner = optax.with_extra_args_support(inner)

    def update_fn(updates, state, params=None, **extra_args):
        new_updates, new_state = inner.update(updates, state, params, **extra_args)
        new_updates = jax.tree.map(lambda n, g: n.astype(g.dtype), new_updates, updates)
        new_state = jax.tree.map(
            lambda n, o: n.astype(o.dtype) if jnp.issubdtype(o.dtype, jnp.floating) else n,
            new_state,
            state,
        )
        return new_updates, new_state

    return optax.GradientTransformationExtraArgs(inner.init, update_fn)
