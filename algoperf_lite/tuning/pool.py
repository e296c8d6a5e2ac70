"""Worker processes that share the trials left in a tune. Each starts JAX
seeing one core, as the process that starts them did (``core.cpu``), so a
trial's numbers do not depend on which process trained it, then keeps its
threads on a core of its own (``planning.core_sets``).

Every worker takes the tune's workloads from its own place in the list and
each study's trials from its own place, so that workers meet on a workload
late, by which time its programs are in the compilation cache; the trial
locks keep any trial from running twice. The process that started them shows
their progress, then reads their results back, and trains itself whatever a
worker left (one that failed: its log says why). Only a trial's clock is its
worker's.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

from algoperf_lite.core import io
from algoperf_lite.train import planning

POLL_SECONDS = 0.5
WORKER_MODULE = "algoperf_lite.tuning.study"  # its ``work`` is a worker's share


def train(runs, plan: planning.Plan, study: dict) -> list:
    """The trials of ``runs`` (a tune's studies, ``study._Study``) trained by
    ``plan.workers`` worker processes, as their results read back here."""
    folders = [f for run in runs for f in run.folders]
    done_before = {f for f in folders if io.is_finished(f)}
    workers = start([run.workload for run in runs], runs[0].submission, runs[0].output, plan, study)
    if workers:
        _wait(workers, folders, len(done_before), runs[0].bar, runs[0].output)
        rest = planning.Plan(1, 1, "one process: the trials the worker processes left")
    else:
        why = f"{plan.why}; no worker process can rebuild this study, so one process"
        rest = dataclasses.replace(plan, workers=1, why=why)
    results = []
    for run in runs:
        for folder, result in zip(run.folders, run.train(rest), strict=True):
            # Trained by this command's workers, not found done: not "skipped".
            trained = result.skipped and folder not in done_before
            results.append(dataclasses.replace(result, skipped=False) if trained else result)
    return results


def start(workloads, submission, output: str, plan: planning.Plan, study: dict) -> list:
    """``plan.workers`` worker processes (``study.work``) on the tune, where they
    can rebuild it (registered workloads, a submission file); else none."""
    import jax

    from workloads import WORKLOADS

    if any(WORKLOADS.get(w.name) != w for w in workloads) or submission.api is not None:
        return []
    space = study["space"]
    if space is not None and not isinstance(space, str):
        space = json.dumps(space)
    job = dict(
        workloads=[w.name for w in workloads], submission=submission.source, output=output,
        cache=jax.config.jax_compilation_cache_dir, **{**study, "space": space},
    )  # fmt: skip
    workers = []
    for i, core in enumerate(planning.core_sets(plan.workers)):
        mine = dict(plan=dataclasses.replace(plan, worker=i).to_json(), core=core)
        with open(log_path(output, i), "w") as log:
            command = [sys.executable, "-m", WORKER_MODULE, json.dumps({**job, **mine})]
            workers.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
    return workers


def log_path(output: str, worker: int) -> str:
    return os.path.join(output, f".worker_{worker}.log")


def _wait(workers, folders: list[str], done_before: int, bar, output: str) -> None:
    """Until every worker exits: the bar counts the trials they finish. A worker
    that failed is named in one line with its log."""
    base = bar.n
    bar.set_postfix_str(f"{len(workers)} worker processes")
    while any(w.poll() is None for w in workers):
        bar.n = base + sum(map(io.is_finished, folders)) - done_before
        bar.refresh()
        time.sleep(POLL_SECONDS)
    bar.n = base  # reading the results back counts them
    for i, w in enumerate(workers):
        if w.returncode != 0:
            print(
                f"worker process {i} exited with status {w.returncode} (log: "
                f"{log_path(output, i)}); this process trains what it left",
                file=sys.stderr,
            )


def die_with_parent() -> None:
    """A worker's first act: die with the process that started it (Linux), so a
    killed tune leaves no trials running behind it; their locks go with them."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
