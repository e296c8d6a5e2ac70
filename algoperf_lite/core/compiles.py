"""Count XLA compilations, by function name, through ``jax.monitoring``."""

from __future__ import annotations

import collections
import contextlib
import os

import jax

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def counting():
    """``with counting() as counts:`` -> ``counts[fun_name]`` compilations inside."""
    counts: collections.Counter = collections.Counter()

    def listen(event, duration, **kwargs):
        if event == BACKEND_COMPILE:
            counts[kwargs.get("fun_name", "?")] += 1

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield counts
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def training_steps(counts) -> int:
    """Compilations of a training step (single, fused or vmapped)."""
    return sum(n for name, n in counts.items() if name.split("(")[-1].rstrip(")") in STEP_NAMES)


STEP_NAMES = ("step", "steps")


# One cache root for the project: generated datasets (workloads/_cache.py) and,
# under jax/, compiled programs.
CACHE_ENV = "ALGOPERF_LITE_CACHE"
# "off" turns compiled programs' cache off; a folder puts it there.
COMPILE_CACHE_ENV = "ALGOPERF_LITE_COMPILE_CACHE"


def cache_root() -> str:
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.path.expanduser("~"), ".cache", "algoperf_lite"
    )
    os.makedirs(root, exist_ok=True)
    return root


def use_persistent_cache(folder: str | None = None) -> str | None:
    """Keep compiled programs on disk, so that a second ``benchmark``, ``tune`` or
    ``make reproduce`` on this machine loads them instead of compiling again.
    The folder is ``folder``, else ``jax/`` under the cache root
    (``$ALGOPERF_LITE_CACHE``, or ``~/.cache/algoperf_lite``);
    ``$ALGOPERF_LITE_COMPILE_CACHE=off`` turns it off, and a folder there
    moves it. Compile time is still measured and reported apart (a load from
    the cache is counted there too)."""
    chosen = os.environ.get(COMPILE_CACHE_ENV, "")
    if folder is None and chosen == "off":
        return None
    folder = folder or chosen or os.path.join(cache_root(), "jax")
    os.makedirs(folder, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", folder)
    # Our programs are small: cache every one, however fast it compiled.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
