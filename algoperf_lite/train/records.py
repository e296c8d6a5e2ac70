"""Trial records that check themselves.

A finished trial folder holds ``eval_measurements.csv`` and a ``result.json``
that records, besides the trial's outcome, the SHA-256 of the CSV, its budget
and the hashes of the workload definition and the submission source. Each
experiment folder keeps ``manifest.json``: the submission it belongs to and
every trial folder it launched. ``check_launched`` and ``verify_trial``
cross-check all of it,
so that a damaged, edited, missing, foreign or out-of-budget trial is refused
with one line naming the trial and the fix, instead of being scored.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import math
import os

from algoperf_lite.core import io
from algoperf_lite.core.errors import UserError

MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".lock"
# The most steps any ruleset gives a trial, as a multiple of step_hint (self-tuning).
MAX_BUDGET_FACTOR = 1.5


def digest(path: str) -> str | None:
    """SHA-256 of a file's bytes, or None when it is missing."""
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return None


def read_result(folder: str) -> dict | None:
    """A trial's ``result.json``: None when absent; UserError when unreadable."""
    path = os.path.join(folder, io.RESULT_FILE)
    if not os.path.exists(path):
        return None
    try:
        stored = io.read_json(path)
    except (OSError, ValueError):
        raise UserError(
            f"{path} is damaged (not readable JSON); rerun the same command to redo the trial"
        ) from None
    if not isinstance(stored, dict):
        raise UserError(f"{path} is not a trial result; rerun the same command to redo the trial")
    if stored.get("status") == io.RUNNING:
        return stored
    for field, kinds in RESULT_TYPES.items():
        value = stored.get(field)
        wrong = isinstance(value, bool) or not isinstance(value, kinds)
        if wrong or (isinstance(value, float) and not math.isfinite(value)):
            raise UserError(
                f"{path} is damaged ('{field}' is {type(value).__name__}); rerun the same "
                "command to redo the trial"
            )
    return stored


_INT, _NUMBER, _STR = (int,), (int, float), (str,)
# The fields a finished result.json must hold, with their types (None: absent).
RESULT_TYPES = {
    "status": _STR,
    "submission": _STR,
    "submission_hash": _STR,
    "workload_hash": _STR,
    "measurements_sha256": _STR,
    "metric": _STR,
    "steps": _INT,
    "max_steps": _INT,
    "step_hint": _INT,
    "steps_to_target": (*_INT, type(None)),
    "target": (*_NUMBER, type(None)),
}


def damage(folder: str, stored: dict) -> str | None:
    """Why a finished trial's files cannot be trusted, or None when they match."""
    path = os.path.join(folder, io.MEASUREMENTS_FILE)
    actual = digest(path)
    if actual is None:
        return f"{path} is missing"
    if not stored.get("measurements_sha256"):
        return f"{os.path.join(folder, io.RESULT_FILE)} records no digest of its measurements"
    if actual != stored["measurements_sha256"]:
        return f"{path} was changed after the trial finished (its digest differs)"
    return None


# ---------------------------------------------------------------------------
# Manifests: the trials an experiment launched.
# ---------------------------------------------------------------------------


def _relative(experiment: str, folder: str) -> str:
    return os.path.relpath(folder, experiment).replace(os.sep, "/")


def add_to_manifest(experiment: str, submission, folders: list[str]) -> None:
    """Record that ``experiment`` launched ``folders`` for ``submission``."""
    path = os.path.join(experiment, MANIFEST_FILE)
    with lock(experiment):
        manifest = {
            "submission": submission.name,
            "submission_hash": submission.source_hash,
            "trials": [],
        }
        if os.path.exists(path):
            manifest = read_manifest(experiment)
        if manifest["submission"] != submission.name:
            raise UserError(
                f"{experiment} holds results of submission '{manifest['submission']}', "
                f"not '{submission.name}'; choose another --output"
            )
        if manifest.get("submission_hash") != submission.source_hash:
            raise UserError(
                f"{experiment} was started with another version of {submission.source}; "
                "choose another --output"
            )
        known = set(manifest["trials"])
        manifest["trials"] += [
            t for t in map(lambda f: _relative(experiment, f), folders) if t not in known
        ]
        io.write_json(path, manifest)


# {workload: one-line error} where a submission's own code raised: scored as never reached.
FAILED_WORKLOADS = "failed_workloads.json"


def failed_workloads(experiment: str) -> dict[str, str]:
    """The workloads withdrawn from ``experiment``, with why."""
    path = os.path.join(experiment, FAILED_WORKLOADS)
    return io.read_json(path) if os.path.exists(path) else {}


def withdraw_workload(experiment: str, workload: str, why: str | None = None) -> int:
    """Take back a workload none of whose trials finished (the submission failed
    on it before any could): its trial folders and manifest entries go, so the
    scorer sees the workload as never reached, which is how AlgoPerf counts a
    workload a submission cannot run; ``why`` is kept in ``FAILED_WORKLOADS``.
    Returns how many trials were withdrawn."""
    import shutil

    folders = [
        t
        for t in trial_folders(experiment)
        if os.path.basename(os.path.dirname(t)) == f"{workload}_jax"
    ]
    finished = [
        t for t in folders if (read_result(t) or {}).get("status", io.RUNNING) != io.RUNNING
    ]
    if finished:
        raise UserError(f"{finished[0]} finished; a workload with results cannot be withdrawn")
    with lock(experiment):
        manifest = read_manifest(experiment)
        # Launched but never started trials go too: every entry under <workload>_jax.
        manifest["trials"] = [
            t for t in manifest["trials"] if t.split("/")[-2:-1] != [f"{workload}_jax"]
        ]
        io.write_json(os.path.join(experiment, MANIFEST_FILE), manifest)
        for wdir in {os.path.dirname(t) for t in folders}:
            shutil.rmtree(wdir)
        if why is not None:
            failed = {**failed_workloads(experiment), workload: why}
            io.write_json(os.path.join(experiment, FAILED_WORKLOADS), failed)
    return len(folders)


def read_manifest(experiment: str) -> dict:
    path = os.path.join(experiment, MANIFEST_FILE)
    if not os.path.exists(path):
        raise UserError(
            f"{experiment} has no {MANIFEST_FILE}, so its trials cannot be checked; score "
            "folders written by 'algoperf-lite tune' or 'benchmark', or pass --unverified "
            "(for AlgoPerf's own folders: integrity checks off)"
        )
    try:
        manifest = io.read_json(path)
    except (OSError, ValueError):
        raise UserError(f"{path} is damaged; rerun the experiment's tune command") from None
    ok = (
        isinstance(manifest, dict)
        and isinstance(manifest.get("submission"), str)
        and isinstance(manifest.get("trials"), list)
        and all(isinstance(t, str) for t in manifest["trials"])
    )
    if not ok:
        raise UserError(f"{path} is not a manifest; rerun the experiment's tune command")
    return manifest


# ---------------------------------------------------------------------------
# One writer per trial folder.
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def lock(folder: str, blocking: bool = True):
    """Hold ``folder``'s lock (an flock, released when the process dies); yields
    whether it was acquired (always True when ``blocking``). The lock file sits
    beside the folder (``.<name>.lock``), so the folder holds only its results."""
    io.ensure_writable(folder)
    folder = os.path.abspath(folder)
    path = os.path.join(os.path.dirname(folder), f".{os.path.basename(folder)}{LOCK_FILE}")
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def sole_writer(folders: list[str]):
    """Hold the locks of every folder (in one order, so processes never deadlock),
    saying in one line when another process has one and this one waits."""
    with contextlib.ExitStack() as stack:
        for folder in sorted(set(folders)):
            if not stack.enter_context(lock(folder, blocking=False)):
                from algoperf_lite.core.errors import warn

                warn(f"waiting for another process that is running {folder}")
                stack.enter_context(lock(folder))
        yield


def busy(folder: str) -> bool:
    """Whether another process holds ``folder``'s lock right now."""
    if not os.path.isdir(folder):
        return False
    with lock(folder, blocking=False) as acquired:
        return not acquired


# ---------------------------------------------------------------------------
# The scorer's cross-checks.
# ---------------------------------------------------------------------------


def check_launched(experiment: str, manifest: dict, trial_folders: list[str]) -> str:
    """Check the folders against the manifest; returns the manifest."""
    launched = set(manifest["trials"])
    found = {_relative(experiment, f) for f in trial_folders}
    for extra in sorted(found - launched):
        raise UserError(
            f"{os.path.join(experiment, extra)} was not launched by this experiment (it is "
            f"not in {MANIFEST_FILE}); remove it"
        )
    for gone in sorted(launched - found):
        raise UserError(
            f"{os.path.join(experiment, gone)} is missing; rerun the experiment's tune "
            "command to redo it"
        )
    return manifest


def verify_trial(
    folder: str,
    stored: dict,
    manifest: dict,
    rows: list[dict],
    higher_is_better: bool,
    check_status: bool = True,
) -> None:
    """Cross-check one finished trial's result.json against its CSV and experiment.
    ``check_status=False`` (``--allow-mixed``) skips the status cross-check, which
    uses the target the trial ran against."""
    fix = "rerun the experiment's tune command to redo it"
    problem = damage(folder, stored)
    if problem is not None:
        raise UserError(f"{problem}; {fix}")
    submission = manifest["submission"]
    if stored.get("submission") != submission:
        raise UserError(
            f"{folder} holds a trial of submission '{stored.get('submission')}', but its "
            f"experiment is '{submission}'s; remove it"
        )
    if stored.get("submission_hash") != manifest.get("submission_hash"):
        raise UserError(
            f"{folder} ran another version of '{submission}' than its experiment (the source "
            f"hashes differ); {fix}"
        )
    steps, max_steps, step_hint = (stored.get(k) for k in ("steps", "max_steps", "step_hint"))
    numbers = all(
        isinstance(v, int) and not isinstance(v, bool) for v in (steps, max_steps, step_hint)
    )
    if not numbers:
        raise UserError(f"{folder}/result.json lacks its step budget; {fix}")
    last = max((int(float(r["global_step"])) for r in rows), default=0)
    if max_steps > math.ceil(MAX_BUDGET_FACTOR * step_hint) or max(steps, last) > max_steps:
        raise UserError(
            f"{folder} ran {max(steps, last)} steps, beyond its budget of {max_steps} "
            f"(step_hint {step_hint}); it cannot be scored: {fix}"
        )
    metric, target = stored.get("metric"), stored.get("target")
    reported = stored.get("steps_to_target")
    if not check_status or target is None or not rows or metric not in rows[0]:
        return

    def meets(row):
        value = float(row[metric])
        return math.isfinite(value) and (value >= target if higher_is_better else value <= target)

    at = {int(float(r["global_step"])): r for r in rows}
    if stored.get("status") == "target_reached":
        consistent = reported in at and meets(at[reported])
    else:
        consistent = reported is None and not any(meets(r) for r in rows)
    if not consistent:
        raise UserError(
            f"{folder}: result.json says {stored.get('status')} (steps to target {reported}) "
            f"but its measurements disagree; {fix}"
        )


def trial_folders(experiment: str) -> list[str]:
    studies = sorted(glob.glob(os.path.join(experiment, "study_*"))) or [experiment]
    return sorted(
        t
        for study in studies
        for t in glob.glob(os.path.join(study, "*_*", "trial_*"))
        if os.path.isdir(t)
    )
