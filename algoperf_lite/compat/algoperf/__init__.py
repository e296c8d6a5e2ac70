"""Run submissions written to AlgoPerf's API on our workloads.

A submission file that defines ``init_optimizer_state``, ``update_params``,
``get_batch_size`` and ``data_selection`` (AlgoPerf's training-algorithm API)
is recognized by ``load_submission`` and trained as a :mod:`.group` that our
training loop drives, each step taken the way AlgoPerf's submission runner
takes it. Our workloads are
wrapped in :class:`.workload.AlgoPerfWorkload`, which provides the workload
methods such submissions call. This package also answers ``import algoperf``
(``spec`` and ``jax_sharding_utils``; also under its old name,
``algorithmic_efficiency``) when AlgoPerf itself is not installed,
so that AlgoPerf's own JAX submissions import unchanged. Differences from
AlgoPerf are listed in the README ("AlgoPerf-API submissions").
"""

import contextlib
import importlib.util
import sys

API_FUNCTIONS = ("init_optimizer_state", "update_params", "get_batch_size", "data_selection")


def is_api_module(module) -> bool:
    return all(callable(getattr(module, name, None)) for name in API_FUNCTIONS[:2])


# AlgoPerf's package and its name before the rename (v0.5 leaderboard files
# import ``algorithmic_efficiency``).
PACKAGE_NAMES = ("algoperf", "algorithmic_efficiency")


def provide_algoperf_imports() -> None:
    """Make ``from algoperf import spec, jax_sharding_utils`` (and the same from
    ``algorithmic_efficiency``) resolve to this package, unless the real
    AlgoPerf is installed under that name."""
    from algoperf_lite.compat.algoperf import jax_sharding_utils, spec

    for name in PACKAGE_NAMES:
        if name in sys.modules or importlib.util.find_spec(name) is not None:
            continue
        sys.modules[name] = sys.modules[__name__]
        sys.modules[f"{name}.spec"] = spec
        sys.modules[f"{name}.jax_sharding_utils"] = jax_sharding_utils


# Names that JAX removed as pure renames and AlgoPerf's files still call: old
# name on ``jax`` -> the same function in ``jax.tree_util``.
RENAMED_IN_JAX = {
    "tree_map": "tree_map",
    "tree_leaves": "tree_leaves",
    "tree_flatten": "tree_flatten",
    "tree_unflatten": "tree_unflatten",
    "tree_structure": "tree_structure",
    "tree_transpose": "tree_transpose",
    "tree_reduce": "tree_reduce",
}


@contextlib.contextmanager
def renamed_jax_names():
    """While an AlgoPerf file is imported or trained: each name of
    ``RENAMED_IN_JAX`` that this JAX lacks is supplied, and removed afterwards;
    nothing else of JAX is touched."""
    import jax

    added = [old for old in RENAMED_IN_JAX if not hasattr(jax, old)]
    for old in added:
        setattr(jax, old, getattr(jax.tree_util, RENAMED_IN_JAX[old]))
    try:
        yield
    finally:
        for old in added:
            delattr(jax, old)
