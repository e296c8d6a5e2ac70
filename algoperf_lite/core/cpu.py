"""One core's numbers for every trial on a CPU.

XLA:CPU splits some of a program's work by the cores it sees when JAX starts
its backend, so the same trial trained by a process that started with two
cores and by one that started with one differs in float rounding (on
char_lm_transformer and mnist1d_cnn), which can move a target crossing by an
evaluation. So that a trial's numbers do not depend on how its tune was
planned (in the command's process or in worker processes, ``tuning.pool``),
every process that trains on a CPU starts JAX seeing one core
(``start_on_one_core``) and then runs wherever the system puts it.
On these small models a trial trains about as fast that way (the threads of
a backend started on every core mostly spin; results/speed.md times both
plans).
"""

from __future__ import annotations

import importlib.util
import os

_STARTED_ON_ONE_CORE = False
ONE_CORE_ENV = "ALGOPERF_LITE_ONE_CORE"  # "off": JAX starts on every core


def cores() -> list[int]:
    """The cores this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def on_one_core() -> bool:
    """Whether this process started JAX seeing one core (``start_on_one_core``)."""
    return _STARTED_ON_ONE_CORE


def start_on_one_core() -> bool:
    """Start JAX's CPU backend seeing one core, then give the process its cores
    back, where that fixes its numbers: JAX has not started its backend yet,
    the backend will be the CPU (no accelerator plugin, no ``JAX_PLATFORMS``
    naming another), one CPU device (no forced device count), on Linux.
    Returns ``on_one_core()``."""
    global _STARTED_ON_ONE_CORE
    if _STARTED_ON_ONE_CORE or not hasattr(os, "sched_setaffinity"):
        return _STARTED_ON_ONE_CORE
    if os.environ.get(ONE_CORE_ENV) == "off":  # every core, numbers that depend on their count
        return False
    # No public call says whether JAX has started without starting it; where
    # this one is gone, assume it has (and leave the process as it is).
    from jax._src import xla_bridge  # noqa: PLC2701

    started = getattr(xla_bridge, "backends_are_initialized", lambda: True)()
    if started or not _cpu_only():
        return False
    import jax

    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(mine)})
    try:
        jax.devices()  # XLA sizes its threads now
    finally:
        os.sched_setaffinity(0, mine)
    _STARTED_ON_ONE_CORE = len(jax.devices()) == 1 and jax.default_backend() == "cpu"
    return _STARTED_ON_ONE_CORE


def pin_threads(core: int | None) -> None:
    """Keep every thread of this process on ``core`` (None: leave them), after
    JAX started on one core: a worker's threads then do not spin on the cores
    other workers train on."""
    if core is None or not _STARTED_ON_ONE_CORE:  # threads started for every core would spin
        return
    for thread in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(thread), {core})
        except OSError:  # a thread that has just ended
            pass


def _cpu_only() -> bool:
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms:
        return platforms.split(",")[0].strip() == "cpu"
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return False  # several CPU devices: their work is split by design
    from importlib.metadata import entry_points

    plugins = list(entry_points(group="jax_plugins"))
    return not plugins and not any(
        importlib.util.find_spec(name) for name in ("jax_plugins", "libtpu")
    )
