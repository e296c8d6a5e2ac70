"""The speed benchmark behind ``make bench`` (results/speed.md).

For each workload, in one run on one machine, steps per second of:

* our runner (``run_trial``; its on-clock time): training straight through,
  as the floor does, and training with the workload's evaluations (each one
  stops the clock's chunk: off the clock itself, but the chunk's dispatch and
  wait, and the caches it leaves cold, are on it);
* the floor: the fastest plain loop we can write, sharing no code with the
  project (``floor.py``: its own Flax model, ``optax.nadamw``, its own
  batching on the device; the faster of a fused device loop and one dispatch
  per step);
* an AlgoPerf-style loop: a batch assembled on the host and sent each step, one
  jit call per step, nothing fused.

All three train at dropout and label smoothing 0, which the floor does not
have. Plus compile time, compilations over a 5-trial study, K vmapped trials
against K sequential ones, memory, and how fast the command line answers.
Ratios, not absolute times, are what carry from one machine to another.
"""

from __future__ import annotations

import dataclasses
import math
import resource
import statistics
import time

import flax
import jax
import numpy as np
import optax

from algoperf_lite.bench import floor
from algoperf_lite.core import compiles
from algoperf_lite.core.spec import Submission, Workload
from algoperf_lite.train import loop, program
from algoperf_lite.tuning import study as tuning

REPEATS = 9  # timings are the median of this many runs (this machine's jitter: +-15%)
VMAP_REPEATS = 3
# A timed run lasts at least this long (more steps than asked where steps are
# short): a run of milliseconds measures the machine's jitter more than the loop.
MIN_RUN_SECONDS = 0.2


def interleaved_rates(loops: dict, steps: int) -> tuple[dict[str, float], int]:
    """Steps per second of each ``loops[name](n) -> seconds``: the median of
    ``REPEATS`` rounds that run every loop once, so that a slow spell of a
    shared machine falls on all of them alike; and the steps each run timed
    (``steps``, or as many as the first loop takes ``MIN_RUN_SECONDS`` to run)."""
    for run in loops.values():
        run(min(steps, 10))  # compile and warm up
    first = next(iter(loops.values()))
    while (seconds := first(steps)) < MIN_RUN_SECONDS:
        steps = math.ceil(steps * 1.2 * MIN_RUN_SECONDS / seconds)
    for run in loops.values():
        run(steps)  # warm at the timed length (the floor's fused loop compiles per length)
    rates = {name: [] for name in loops}
    for _ in range(REPEATS):
        for name, run in loops.items():
            rates[name].append(steps / run(steps))
    return {name: statistics.median(r) for name, r in rates.items()}, steps


def _timed(run):
    def timed(n):
        tic = time.perf_counter()
        run(n)
        return time.perf_counter() - tic

    return timed


def _model_step(workload: Workload, submission: Submission, hp: dict):
    """The plain training step everyone writes: loss, grad, optax update."""
    model = workload.make_model()
    tx = submission.make_optimizer(hp, workload.step_hint)
    dropout, smoothing = hp.get("dropout_rate", 0.0), hp.get("label_smoothing", 0.0)

    def init(key, x):
        variables = flax.core.unfreeze(model.init({"params": key}, x, train=False))
        params = variables.pop("params")
        return params, variables, tx.init(params)

    def step(params, extra, opt_state, x, y, key):
        def loss_of(p):
            kwargs = dict(train=True, dropout_rate=dropout, rngs={"dropout": key})
            if extra:
                out, extra_new = model.apply(
                    {"params": p, **extra}, x, mutable=list(extra), **kwargs
                )
            else:
                out, extra_new = model.apply({"params": p}, x, **kwargs), extra
            return workload.loss_fn(out, y, smoothing).mean(), extra_new

        (loss, extra), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), extra, opt_state, loss

    return init, step


# Dropout and label smoothing off: the floor has neither.
PLAIN = {"dropout_rate": 0.0, "label_smoothing": 0.0}


def floor_loops(workload: Workload) -> dict:
    """The floor, driven both ways (the faster counts)."""
    x, y = workload.load_splits()["train"]
    args = (workload.name, x, y, workload.batch_size, workload.step_hint)
    return {
        "floor_fused": floor.loop(*args, fused=True),
        "floor_steps": floor.loop(*args, fused=False),
    }


def algoperf_style_loop(workload: Workload, submission: Submission):
    """A batch made on the host each step (a shuffled NumPy slice), sent with
    the call; one jitted update per step; the loss kept as a device value."""
    hp = submission.resolve_hparams(PLAIN)
    init, step = _model_step(workload, submission, hp)
    x, y = workload.load_splits()["train"]
    batch = submission.batch_size(workload)
    update = jax.jit(step, donate_argnums=(0, 1, 2))
    key = jax.random.PRNGKey(0)
    state = [jax.jit(init)(key, x[:batch])]
    rng = np.random.default_rng(0)
    order = [rng.permutation(len(x)), 0]

    def next_batch():
        order_, pos = order
        if pos + batch > len(order_):
            order_, pos = rng.permutation(len(x)), 0
        order[:] = [order_, pos + batch]
        idx = order_[pos : pos + batch]
        return x[idx], y[idx]

    def run(n):
        params, extra, opt_state = state[0]
        for i in range(n):
            bx, by = next_batch()
            params, extra, opt_state, _ = update(
                params, extra, opt_state, bx, by, jax.random.fold_in(key, i)
            )
        state[0] = jax.block_until_ready((params, extra, opt_state))

    return _timed(run)


def runner_loop(workload: Workload, submission: Submission, evaluating: bool = True):
    """Our runner: ``run_trial`` for n steps; its on-clock seconds (evaluation
    excluded). Not ``evaluating``: the workload evaluated only after the last
    step, so the runner trains straight through as the floor does."""
    seeds = iter(range(10**6))
    if not evaluating:
        workload = dataclasses.replace(workload, eval_every=10**9)

    def run(n):
        result = loop.run_trial(
            workload, submission, PLAIN, seed=next(seeds), max_steps=n, stop_at_target=False
        )
        return result.submission_time_sec

    return run


def study_compilations(workload: Workload, submission: Submission, trials: int = 5) -> dict:
    """Compilations during a ``trials``-trial study, on a fresh copy of the
    workload so nothing is cached: training steps, and everything."""
    import tempfile

    fresh = dataclasses.replace(workload, description=workload.description + " (fresh)")
    space = {"learning_rate": {"min": 1e-3, "max": 1e-2, "scaling": "log"}}
    with tempfile.TemporaryDirectory() as out, compiles.counting() as counts:
        tuning.tune(
            [dataclasses.replace(fresh, step_hint=20, eval_every=10)],
            submission,
            space,
            output=out,
            trials=trials,
            studies=1,
            progress=False,
        )
    return {"training_steps": compiles.training_steps(counts), "all": sum(counts.values())}


def vmap_rates(workload: Workload, submission: Submission, steps: int, sizes=(1, 4, 16)) -> dict:
    """Trial-steps per second of K vmapped trials, and the step program's bytes."""
    out = {}
    names = tuple(sorted(submission.resolve_hparams()))
    batch = submission.batch_size(workload)
    for k in sorted(sizes):
        points = [{"learning_rate": 1e-3 * (1 + i % 8)} for i in range(k)]
        loop.run_trials(workload, submission, points, list(range(k)), max_steps=10)
        tic_rates = []
        for _ in range(VMAP_REPEATS):
            results = loop.run_trials(
                workload,
                submission,
                points,
                list(range(k)),
                max_steps=steps,
                stop_at_target=False,
            )
            tic_rates.append(k * steps / results[0].submission_time_sec)
        compiled, _ = program.vector_program(workload, submission, names, batch, k)
        out[k] = {"rate": statistics.median(tic_rates), "bytes": program.step_bytes(compiled)}
    return out


ARGUMENT_ERROR = "run (an argument error)"
CLI_COMMANDS = {"--help": ["--help"], "workloads": ["workloads"], ARGUMENT_ERROR: ["run"]}
CLI_GOALS = {"--help": 0.5, "workloads": 2.0, ARGUMENT_ERROR: 0.5}


def cli_seconds(repeats: int = 3) -> dict[str, float]:
    """Wall seconds for the command line to answer (a fresh process each time; median)."""
    import subprocess
    import sys

    out = {}
    for name, args in CLI_COMMANDS.items():
        times = []
        for _ in range(repeats):
            tic = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "algoperf_lite.cli", *args], capture_output=True, check=False
            )
            times.append(time.perf_counter() - tic)
        out[name] = statistics.median(times)
    return out


# The main job: `algoperf-lite benchmark` of a fixed reference submission (a copy
# of our AdamW under another name, so nothing of the committed baseline is reused)
# on the offline suite, timed in fresh processes: with a cold compilation cache
# (the first run on a machine), and with the cache an earlier run of another
# submission (EARLIER) left, which holds the workloads' own programs (a trial's
# start and evaluation) but none of the reference's: a new submission as it
# meets a machine that has run the project before; that one as planned and in
# one process (``--workers 1``), the baseline the plan's worker processes beat.
REFERENCE = "adamw"
EARLIER = "nadamw"
MAIN_JOB_SECONDS = {"cpu": 300, "gpu": 60}  # goals: 5 minutes on a 2-core CPU, 1 on a GPU
MAIN_JOB_RATIO = 1.3  # wall time at most this times the trials' summed training time
MAIN_JOB_RUNS = {"first_run": (), "new_submission": (), "one_process": ("--workers", "1")}


def main_job() -> dict:
    """Wall time of a whole ``benchmark`` in a fresh process, and its trials'
    summed training, evaluation and compilation time (training is the floor),
    for each of ``MAIN_JOB_RUNS`` (see above)."""
    import os
    import subprocess
    import sys
    import tempfile

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in MAIN_JOB_RUNS.items():
            folder = os.path.join(tmp, name)
            if name != "first_run":  # JAX's cache keys hold the cache's path: one each
                earlier = f"from algoperf_lite.bench import speed; speed.earlier_run({EARLIER!r})"
                env = {**os.environ, "ALGOPERF_LITE_COMPILE_CACHE": os.path.join(folder, "jax")}
                command = [sys.executable, "-c", earlier]
                subprocess.run(command, env=env, capture_output=True, check=True)
            runs[name] = _timed_benchmark(folder, options)
    return runs


def earlier_run(submission: str) -> None:
    """One step of ``submission`` on every offline workload (evaluated once)."""
    from algoperf_lite import loading
    from workloads import suite

    compiles.use_persistent_cache()  # as every command does
    earlier = loading.load_submission(submission)
    for workload in suite("offline"):
        loop.run_trial(workload, earlier, max_steps=1)


def _timed_benchmark(folder: str, options=()) -> dict:
    """``benchmark`` of the reference, renamed, with its compilation cache in
    ``folder``/jax and command-line ``options``; the offline data sets are
    generated already (the measurements before this one load every workload)."""
    import glob
    import json
    import os
    import shutil
    import subprocess
    import sys

    from algoperf_lite import loading

    source = loading.load_submission(REFERENCE).source
    space = os.path.join(os.path.dirname(source), "search_spaces", f"{REFERENCE}.json")
    os.makedirs(folder, exist_ok=True)
    new = os.path.join(folder, "reference_submission.py")
    shutil.copy(source, new)
    env = {**os.environ, "ALGOPERF_LITE_COMPILE_CACHE": os.path.join(folder, "jax")}
    out = os.path.join(folder, "out")
    command = [sys.executable, "-m", "algoperf_lite.cli", "benchmark", "--submission", new]
    command += ["--search-space", space, "--output", out, "--no-progress", *options]
    tic = time.perf_counter()
    subprocess.run(command, env=env, capture_output=True, check=True)
    wall = time.perf_counter() - tic
    results = []
    for path in glob.glob(os.path.join(out, "**", "result.json"), recursive=True):
        with open(path) as f:
            results.append(json.load(f))
    fields = {
        "training": "submission_time_sec",
        "evaluation": "eval_time_sec",
        "compilation": "compile_time_sec",
    }
    parts = {part: sum(r[key] for r in results) for part, key in fields.items()}
    per_workload = {}
    for r in sorted(results, key=lambda r: r["workload"]):
        row = per_workload.setdefault(r["workload"], {part: 0.0 for part in fields})
        for part, key in fields.items():
            row[part] += r[key]
        if r["plan"]["measured"]:  # the plan the first trial measured
            row["plan"] = r["plan"]["why"]
            row["cores_busy"] = r["plan"]["measured"]["cores_busy"]
        if r["plan"].get("worker") is not None:  # which worker processes trained it
            row["workers"] = sorted({*row.get("workers", []), r["plan"]["worker"]})
    return {
        "trials": len(results),
        "wall": wall,
        **parts,
        "rest": wall - sum(parts.values()),
        "workloads": per_workload,
    }


def peak_memory() -> dict:
    """Peak device memory where the device reports it, and the process's peak RSS."""
    stats = jax.local_devices()[0].memory_stats() or {}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"device_peak_bytes": stats.get("peak_bytes_in_use"), "process_peak_rss_bytes": rss}


def measure(
    workload: Workload, submission: Submission, steps: int, vmap_steps: int, sizes=(1, 4, 16)
) -> dict:
    """Every number of one workload's row, measured back to back."""
    names = tuple(sorted(submission.resolve_hparams()))
    compiled, _ = program.compiled_program(
        workload, submission, names, submission.batch_size(workload)
    )
    loops = {
        "runner": runner_loop(workload, submission, evaluating=False),
        "runner_evaluating": runner_loop(workload, submission),
        **floor_loops(workload),
        "algoperf_style": algoperf_style_loop(workload, submission),
    }
    rates, timed_steps = interleaved_rates(loops, steps)
    rates["floor"] = max(rates["floor_fused"], rates["floor_steps"])
    return {
        "rates": rates,
        "timed_steps": timed_steps,
        "eval_every": workload.eval_every,
        "compile_sec": compiled.compile_seconds,
        "fused": compiled.steps is not None,
        "study_compilations": study_compilations(workload, submission),
        "vmap": {str(k): v for k, v in vmap_rates(workload, submission, vmap_steps, sizes).items()},
    }
