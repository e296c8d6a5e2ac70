"""What a model's parameters are: AlgoPerf's parameter-type categories, read
from Flax's naming (module and leaf names), and counts."""

from __future__ import annotations

import enum

import jax
import numpy as np


class ParameterType(enum.Enum):
    """AlgoPerf's parameter categories (its ``spec.ParameterType``, same members)."""

    WEIGHT = 0
    BIAS = 1
    CONV_WEIGHT = 2
    BATCH_NORM_SCALE = 3
    BATCH_NORM_BIAS = 4
    LAYER_NORM_SCALE = 5
    LAYER_NORM_BIAS = 6
    EMBEDDING = 7
    ATTENTION_Q = 8
    ATTENTION_K = 9
    ATTENTION_V = 10
    ATTENTION_OUT = 11
    ATTENTION_QKV = 12
    ATTENTION_KV = 13
    ATTENTION_BIAS = 14


_ATTENTION = {
    "qkv": ParameterType.ATTENTION_QKV,
    "kv": ParameterType.ATTENTION_KV,
    "query": ParameterType.ATTENTION_Q,
    "key": ParameterType.ATTENTION_K,
    "value": ParameterType.ATTENTION_V,
    "out": ParameterType.ATTENTION_OUT,
}


def param_type(path: tuple[str, ...], ndim: int) -> ParameterType:
    """The category of the parameter at ``path`` (module names, then the leaf name)."""
    leaf, parent = path[-1], (path[-2] if len(path) > 1 else "")
    if leaf in ("embedding", "positions"):
        return ParameterType.EMBEDDING
    for norm, (scale, bias) in (
        ("BatchNorm", (ParameterType.BATCH_NORM_SCALE, ParameterType.BATCH_NORM_BIAS)),
        ("LayerNorm", (ParameterType.LAYER_NORM_SCALE, ParameterType.LAYER_NORM_BIAS)),
    ):
        if parent.startswith(norm):
            return scale if leaf == "scale" else bias
    if parent in _ATTENTION:
        return ParameterType.ATTENTION_BIAS if leaf == "bias" else _ATTENTION[parent]
    if leaf == "bias":
        return ParameterType.BIAS
    return ParameterType.CONV_WEIGHT if ndim > 2 else ParameterType.WEIGHT


def param_types(params):
    """A tree like ``params`` whose leaves are :class:`ParameterType`."""
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: param_type(tuple(k.key for k in path), np.ndim(leaf)), params
    )


def param_count(params) -> int:
    return int(sum(np.prod(np.shape(leaf)) for leaf in jax.tree.leaves(params)))


def abstract_params(workload):
    """Parameter shapes of ``workload``'s model without running it or loading data
    (for workloads that declare ``input_spec``)."""
    import jax.numpy as jnp

    if workload.input_spec is not None:
        shape, dtype = workload.input_spec
    else:
        x = workload.load_splits()["train"][0]
        shape, dtype = x.shape[1:], x.dtype
    sample = jax.ShapeDtypeStruct((1, *shape), jnp.dtype(dtype))
    model = workload.make_model()
    variables = jax.eval_shape(
        lambda x: model.init({"params": jax.random.PRNGKey(0)}, x, train=False), sample
    )
    return variables["params"]
