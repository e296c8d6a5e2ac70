"""A trial's record: what identifies it (its fingerprint), what the loop
accumulates while it runs (its books: evaluation rows and clock accounting),
and what it ends as (a :class:`TrialResult`, written in AlgoPerf's layout)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time

from algoperf_lite.core import io
from algoperf_lite.core.errors import UserError, warn
from algoperf_lite.train import records

STATUSES = ("target_reached", "missed", "diverged", "out_of_memory")
# Stops that decide the status by themselves; the others depend on the target.
STOP_STATUS = {"divergence": "diverged", "out_of_memory": "out_of_memory"}


@dataclasses.dataclass
class TrialResult:
    workload: str
    submission: str
    seed: int
    hparams: dict[str, float]
    status: str  # one of STATUSES
    stopped_by: str  # target | step_budget | time_budget | divergence | out_of_memory
    metric: str
    target: float | None
    steps: int
    steps_to_target: int | None
    time_to_target: float | None
    grad_evals_to_target: int | None
    best_validation: float | None
    final: dict[str, float]
    compile_time_sec: float
    compiled: bool
    submission_time_sec: float
    eval_time_sec: float
    total_duration_sec: float
    batch_size: int
    step_hint: int
    max_steps: int
    max_seconds: float | None
    versions: dict[str, str]
    workload_hash: str = ""
    submission_hash: str = ""
    preemption_count: int = 0
    trials_per_step: int = 1  # >1: vmapped with others, sharing their clock
    # Evaluation time over training time (AlgoPerf budgets 10 to 20%).
    eval_share: float | None = None
    # CPU seconds of this process per second of training (its cores kept busy).
    cores_busy: float | None = None
    plan: dict | None = None  # how its study was trained, and why (``planning.Plan``)
    measurements_sha256: str = ""  # of eval_measurements.csv, checked by the scorer
    rows: list[dict] = dataclasses.field(default_factory=list, repr=False)
    skipped: bool = False

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        del out["rows"], out["skipped"]
        return out

    def summary(self) -> str:
        head = f"{self.workload} / {self.submission} (seed {self.seed}): {self.status}"
        if self.status == "target_reached":
            detail = (
                f"{self.metric} {self.target:g} at step {self.steps_to_target} "
                f"in {self.time_to_target:.2f}s"
            )
        else:
            best = "n/a" if self.best_validation is None else f"{self.best_validation:.4f}"
            detail = f"stopped by {self.stopped_by} at step {self.steps}; best {self.metric} {best}"
        return f"{head}, {detail} (compile {self.compile_time_sec:.2f}s)"


def trial_fingerprint(workload, submission, seed, hp, max_steps, max_seconds) -> dict:
    """What identifies a trial: a folder holding another fingerprint is not rerun into."""
    return dict(
        workload=workload.name,
        submission=submission.name,
        seed=int(seed),
        hparams=hp,
        max_steps=max_steps,
        max_seconds=max_seconds,
    )


def start_folder(output_dir: str, fingerprint: dict) -> None:
    """Mark a trial folder as ours and unfinished until the real result replaces it."""
    io.ensure_writable(output_dir)
    io.write_json(os.path.join(output_dir, io.RESULT_FILE), {**fingerprint, "status": io.RUNNING})
    io.write_json(os.path.join(output_dir, io.HPARAMS_FILE), fingerprint["hparams"])


def stop_after_eval(value, workload, books, stop_at_target) -> str | None:
    """Record a first arrival at the target; the reason to stop now, if any."""
    if not math.isfinite(value):
        return "divergence"
    if books["reached_at"] is None and workload.reached(value, workload.validation_target):
        books["reached_at"] = len(books["rows"]) - 1
        if stop_at_target:
            return "target"
    return None


def fresh_books() -> dict:
    """Everything the runner accumulates besides the state: checkpointed with it."""
    return {
        "rows": [],
        "reached_at": None,
        "best": None,
        "next_eval": None,
        "submission_time_sec": 0.0,
        "training_cpu_sec": 0.0,
        "eval_time_sec": 0.0,
        "accumulated_logging_time": 0.0,
        "checkpoint_time_sec": 0.0,
        "stopped_by": None,
        "total_duration_sec": 0.0,
        "compile_time_sec": 0.0,
        "preemption_count": 0,
    }


def jsonable(obj):
    return json.loads(json.dumps(obj))


def out_of_memory(error: Exception) -> bool:
    return "RESOURCE_EXHAUSTED" in str(error) or "out of memory" in str(error).lower()


def record_eval(books, metrics, step, workload, wall_start) -> float:
    """Append one evaluation row to ``books``; returns the validation metric."""
    value = metrics[workload.metric_column]
    if math.isfinite(value) and (books["best"] is None or workload.better(value, books["best"])):
        books["best"] = value
    books["rows"].append(
        {
            "global_step": step,
            "score": books["submission_time_sec"],
            "total_duration": time.perf_counter() - wall_start,
            "accumulated_submission_time": books["submission_time_sec"],
            "accumulated_eval_time": books["eval_time_sec"],
            "accumulated_logging_time": books["accumulated_logging_time"],
            "preemption_count": books["preemption_count"],
            **metrics,
        }
    )
    return value


def finish(
    output_dir,
    fingerprint,
    workload,
    submission,
    batch_size,
    books,
    stopped_by,
    compiled,
    steps=0,
    trials_per_step=1,
    plan=None,
) -> TrialResult:
    status = STOP_STATUS.get(stopped_by)
    if status is None:
        status = "target_reached" if books["reached_at"] is not None else "missed"
    reached = None if books["reached_at"] is None else books["rows"][books["reached_at"]]
    rows = books["rows"]
    result = TrialResult(
        **fingerprint,
        status=status,
        stopped_by=stopped_by,
        metric=workload.metric_column,
        target=workload.validation_target,
        steps=steps,
        steps_to_target=None if reached is None else reached["global_step"],
        time_to_target=None if reached is None else reached["score"],
        grad_evals_to_target=(
            None if reached is None else reached["global_step"] * submission.grad_evals_per_step
        ),
        best_validation=books["best"],
        # JSON has no NaN: a metric that overflowed is recorded as null.
        final={
            k: v if math.isfinite(v) else None
            for k, v in (rows[-1] if rows else {}).items()
            if "/" in k
        },
        compile_time_sec=books["compile_time_sec"],
        compiled=compiled,
        submission_time_sec=books["submission_time_sec"],
        eval_time_sec=books["eval_time_sec"],
        total_duration_sec=books["total_duration_sec"],
        batch_size=batch_size,
        step_hint=workload.step_hint,
        versions=io.versions(),
        workload_hash=workload.definition_hash,
        submission_hash=submission.source_hash,
        preemption_count=books["preemption_count"],
        trials_per_step=trials_per_step,
        eval_share=(
            books["eval_time_sec"] / books["submission_time_sec"]
            if books["submission_time_sec"] > 0
            else None
        ),
        cores_busy=(
            books.get("training_cpu_sec", 0.0) / books["submission_time_sec"]
            if books["submission_time_sec"] > 0
            else None
        ),
        plan=plan,
        rows=rows,
    )
    if output_dir is not None:
        path = os.path.join(output_dir, io.MEASUREMENTS_FILE)
        io.write_csv(path, rows)
        result.measurements_sha256 = records.digest(path)
        io.write_json(os.path.join(output_dir, io.RESULT_FILE), result.to_json())
    return result


def finished_trial(output_dir: str, fingerprint: dict) -> TrialResult | None:
    """The finished trial the folder holds, or None when it must (re)run: absent,
    unfinished, or finished with damaged files (said in one line, then redone)."""
    try:
        stored = records.read_result(output_dir)
    except UserError as e:
        warn(f"{e}: redoing it")
        return None
    if stored is None or stored.get("status") == io.RUNNING:
        return None  # unfinished: start again (or resume from its checkpoint)
    if {k: stored.get(k) for k in fingerprint} != fingerprint:
        raise UserError(
            f"{output_dir} already holds a different finished trial; "
            "choose another --output or remove that folder"
        )
    problem = records.damage(output_dir, stored)
    if problem is not None:
        warn(f"{problem}; redoing the trial")
        return None
    known = {f.name for f in dataclasses.fields(TrialResult)}
    return TrialResult(**{k: v for k, v in stored.items() if k in known}, skipped=True)


@dataclasses.dataclass
class Lane:
    """One trial of a group: what identifies it and what it has recorded so far."""

    fingerprint: dict
    output_dir: str | None
    books: dict
    steps: int = 0

    @property
    def active(self) -> bool:
        return self.books["stopped_by"] is None


def finish_lanes(
    workload, submission, lanes: list[Lane], size: int, compiled: bool, plan=None
) -> list:
    """Every lane's result (written to its folder, if any); the first carries the compilation."""
    batch_size = submission.batch_size(workload)
    return [
        finish(
            lane.output_dir,
            lane.fingerprint,
            workload,
            submission,
            batch_size,
            lane.books,
            lane.books["stopped_by"],
            compiled and i == 0,
            steps=lane.steps,
            trials_per_step=size,
            plan=plan,
        )
        for i, lane in enumerate(lanes)
    ]
