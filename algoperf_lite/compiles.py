"""Count XLA compilations, by function name, through ``jax.monitoring``."""

from __future__ import annotations

import collections
import contextlib

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
