"""Trial directories in AlgoPerf's layout, written atomically.

``<output>/<study>/<workload>_jax/trial_<i>/`` holds ``hparams.json`` and
``eval_measurements.csv`` (AlgoPerf's files, so either side's scorer reads
the other's results) plus our ``result.json``. ``result.json`` is written
last: a trial directory without it is unfinished, never half-read.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import platform
import tempfile
from importlib import metadata

from algoperf_lite.core.errors import UserError

RESULT_FILE = "result.json"
RUNNING = "running"  # the status in result.json while a trial has not finished
HPARAMS_FILE = "hparams.json"
MEASUREMENTS_FILE = "eval_measurements.csv"


def trial_dir(output: str, workload: str, trial: int = 1, study: str = "study_0") -> str:
    return os.path.join(output, study, f"{workload}_jax", f"trial_{trial}")


def ensure_writable(path: str) -> None:
    """Create ``path`` or fail with a one-line error before any work is done."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise UserError(
            f"output directory {path} cannot be written ({reason}); choose another --output"
        ) from None


_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: str, text: str, durable: bool = True) -> None:
    """Write via a temporary file in the same folder and rename over ``path``
    (a crash leaves the old file or the new, never part of one); ``durable``
    also waits for the disk, so that the new file survives the machine's crash."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_csv(path: str, rows: list[dict], durable: bool = True) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue(), durable)


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def is_finished(trial_folder: str) -> bool:
    """Whether the folder holds a finished trial's result."""
    path = os.path.join(trial_folder, RESULT_FILE)
    if not os.path.exists(path):
        return False
    try:
        return read_json(path).get("status") != RUNNING
    except (OSError, ValueError, AttributeError):
        return False


def machine() -> str:
    """The processor, core count and, when JAX runs on one, the accelerator."""
    import jax

    text = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}"
    device = jax.devices()[0]
    return text if device.platform == "cpu" else f"{text}, {device.device_kind}"


def machine_details() -> dict:
    """``versions()`` with the backend, device, device count, processor and cores."""
    import jax

    device = jax.local_devices()[0]
    return {
        **versions(),
        "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
        "devices": jax.local_device_count(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }


@functools.cache
def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "machine": platform.machine()}
    for package in ("jax", "jaxlib", "flax", "optax", "numpy"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "missing"
    return out


def versions() -> dict[str, str]:
    """Package versions and machine, recorded with every result."""
    return dict(_versions())
