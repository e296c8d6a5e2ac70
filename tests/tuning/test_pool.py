"""Worker processes sharing a tune's trials (algoperf_lite/tuning/pool.py)."""

import csv
import os
import subprocess
import sys

import pytest

from algoperf_lite.core import io
from algoperf_lite.tuning import pool
from algoperf_lite.tuning.study import tune
from workloads import WORKLOADS

SPACE = [{"learning_rate": lr} for lr in (3e-2, 1e-2, 3e-3)]
WORKLOAD_NAMES = ("digits_logreg", "teacher_mlp_regression")


def _tune(output, nadamw, workers):
    workloads = [WORKLOADS[name] for name in WORKLOAD_NAMES]
    return tune(workloads, nadamw, SPACE, output=str(output), trials=3, studies=2,
                progress=False, workers=workers)  # fmt: skip


def _curves(output):
    """Every trial's validation losses, by its folder under ``output``."""
    curves = {}
    for root, _, files in os.walk(output):
        if io.MEASUREMENTS_FILE in files:
            with open(os.path.join(root, io.MEASUREMENTS_FILE)) as f:
                rows = list(csv.DictReader(f))
            curves[os.path.relpath(root, output)] = [r["validation/loss"] for r in rows]
    return curves


def test_worker_processes_train_every_trial_as_one_process_would(tmp_path, nadamw):
    shared = _tune(tmp_path / "two", nadamw, workers=2)
    alone = _tune(tmp_path / "one", nadamw, workers=1)
    assert len(shared) == len(alone) == 12
    for a, b in zip(shared, alone, strict=True):
        assert (a.workload, a.seed, a.hparams, a.steps, a.status, a.final) == (
            b.workload, b.seed, b.hparams, b.steps, b.status, b.final
        )  # fmt: skip
        # Trained by this tune's workers: not "already done", and said by whom.
        assert not a.skipped and a.plan["workers"] == 2 and a.plan["worker"] in (0, 1)
    assert _curves(tmp_path / "two") == _curves(tmp_path / "one")
    assert all(os.path.exists(pool.log_path(str(tmp_path / "two"), i)) for i in (0, 1))
    again = _tune(tmp_path / "two", nadamw, workers=2)  # all done: read back, no worker
    assert all(r.skipped for r in again)


def test_trials_a_failed_worker_left_are_trained_by_the_tune(tmp_path, nadamw, monkeypatch, capsys):
    def failing(*args):
        return [subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])]

    monkeypatch.setattr(pool, "start", failing)
    results = _tune(tmp_path / "out", nadamw, workers=2)
    assert "worker process 0 exited with status 3" in capsys.readouterr().err
    assert len(results) == 12 and not any(r.skipped for r in results)
    assert all("the worker processes left" in r.plan["why"] for r in results)
    alone = _tune(tmp_path / "one", nadamw, workers=1)
    assert [r.final for r in results] == [r.final for r in alone]


def _as_a_user(**env) -> dict:
    """The environment of a command a user types (the tests turn one core off)."""
    return {**{k: v for k, v in os.environ.items() if k != "ALGOPERF_LITE_ONE_CORE"}, **env}


def _in_a_fresh_process(code: str, **env) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_as_a_user(**env)
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_fresh_process_starts_jax_on_one_core_and_keeps_its_cores():
    probe = (
        "import os; from algoperf_lite.core import cpu; "
        "print(cpu.start_on_one_core(), sorted(os.sched_getaffinity(0)))"
    )
    assert _in_a_fresh_process(probe) == f"True {sorted(os.sched_getaffinity(0))}"
    started = "import jax; jax.devices(); " + probe.replace("import os; ", "import os;", 1)
    assert _in_a_fresh_process(started).startswith("False")  # too late to choose
    assert _in_a_fresh_process(probe, JAX_PLATFORMS="cuda").startswith("False")


@pytest.mark.slow
def test_a_tune_computes_the_same_numbers_with_workers_or_without(tmp_path):
    # char_lm is where XLA:CPU's numbers depend on the cores JAX started with;
    # the command's own process (the first trial, and --workers 1) and its
    # workers all start it seeing one core.
    space = tmp_path / "space.json"
    space.write_text(
        '[{"learning_rate": 0.003}, {"learning_rate": 0.001}, {"learning_rate": 0.01}]'
    )

    def tune_with(workers):
        out = tmp_path / f"w{workers}"
        command = [sys.executable, "-m", "algoperf_lite.cli", "tune", "--workload",
                   "char_lm_transformer", "--submission", "nadamw", "--search-space",
                   str(space), "--trials", "3", "--studies", "1", "--workers", str(workers),
                   "--output", str(out), "--no-progress"]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, env=_as_a_user())
        return out

    two, one = tune_with(2), tune_with(1)
    assert _curves(two) == _curves(one) and len(_curves(one)) == 3
    workers = {io.read_json(os.path.join(two, d, io.RESULT_FILE))["plan"].get("worker")
               for d in _curves(two)}  # fmt: skip
    assert workers <= {0, 1} and workers


def test_a_worker_keeps_its_threads_on_its_core(monkeypatch):
    from algoperf_lite.core import cpu
    from algoperf_lite.train import planning

    monkeypatch.setattr(cpu, "cores", lambda: [2, 3, 5])
    assert planning.core_sets(2) == [2, 3] and planning.core_sets(4) == [None] * 4
    last = sorted(os.sched_getaffinity(0))[-1]
    probe = (
        "import os; from algoperf_lite.core import cpu; cpu.start_on_one_core(); "
        f"cpu.pin_threads({last}); "
        "print(sorted({c for t in os.listdir('/proc/self/task') "
        "for c in os.sched_getaffinity(int(t))}))"
    )
    assert _in_a_fresh_process(probe) == str([last])
