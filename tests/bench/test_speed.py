"""The speed benchmark's script runs end to end and reports every goal."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_benchmark_script_writes_the_report(tmp_path):
    out = str(tmp_path / "speed.md")
    command = [sys.executable, "scripts/benchmark_speed.py", f"--output={out}"]
    command += ["--config=algoperf_lite/bench/config.py:quick"]  # digits_logreg, K in 1, 2
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    text = open(out).read()
    raw = json.load(open(str(tmp_path / "speed.json")))
    row = raw["workloads"]["digits_logreg"]
    assert all(v > 0 for v in row["rates"].values())
    assert row["study_compilations"]["training_steps"] == 1
    assert set(row["vmap"]) == {"1", "2"} and row["vmap"]["2"]["bytes"] > row["vmap"]["1"]["bytes"]
    assert row["rates"]["floor"] == max(row["rates"]["floor_fused"], row["rates"]["floor_steps"])
    ratio = row["rates"]["floor"] / row["rates"]["runner"]
    steps = row["timed_steps"]
    assert steps >= 40  # the preset's steps, or more where 40 run too fast to time
    assert f"| digits_logreg | {steps} | {row['rates']['runner']:.0f} |" in text
    assert f"{ratio:.2f}" in text
    # The runner with the workload's evaluations is reported beside it, against the floor.
    stops = row["rates"]["floor"] / row["rates"]["runner_evaluating"]
    assert f"{row['rates']['runner_evaluating']:.0f} (40) | {stops:.2f} |" in text
    assert f"digits_logreg {stops:.2f}x the floor" in text
    for goal in ("floor's time per step on every workload", "AlgoPerf-style loop", "compilation"):
        assert goal in text
    assert set(raw["cli"]) == {"--help", "workloads", "run (an argument error)"}
    assert all(0 < v < 60 for v in raw["cli"].values()) and "`algoperf-lite --help`" in text
    assert raw["machine"]["jax"] in text


def test_timed_runs_last_long_enough_and_are_warmed_at_their_length():
    from algoperf_lite.bench import speed

    calls = {"fast": [], "slow": []}

    def loop(name, seconds_per_step):  # reports seconds without taking them
        def run(n):
            calls[name].append(n)
            return n * seconds_per_step

        return run

    loops = {"fast": loop("fast", 1e-4), "slow": loop("slow", 2e-4)}
    rates, steps = speed.interleaved_rates(loops, 10)
    assert steps * 1e-4 >= speed.MIN_RUN_SECONDS  # 10 steps of 0.1 ms are too short to time
    assert rates["fast"] == pytest.approx(1e4) and rates["slow"] == pytest.approx(5e3)
    # Each loop ran once at the timed length before the timed rounds (a loop
    # that compiles per length compiles there, not on the clock).
    assert calls["slow"] == [10, steps] + [steps] * speed.REPEATS


def test_the_floor_does_the_workloads_work():
    # The floor's own models are the workloads' architectures: same parameter counts.
    from algoperf_lite.bench import floor
    from algoperf_lite.core import params
    from workloads import suite

    for w in suite("offline"):
        x, y = w.load_splits()["train"]
        assert floor.parameter_count(w.name, x, y) == params.param_count(params.abstract_params(w))


def test_the_main_job_is_reported_against_its_goals():
    from algoperf_lite.bench import speed_report

    report = json.load(open(os.path.join(ROOT, "results", "speed.json")))

    def run(wall, compilation, plan):
        return {
            "trials": 90, "wall": wall, "training": 100.0, "evaluation": 30.0,
            "compilation": compilation, "rest": 30.0,
            "workloads": {"digits_logreg": {"training": 4.0, "evaluation": 1.0,
                                            "compilation": compilation / 10, **plan}},
        }  # fmt: skip

    plan = {"plan": "3 processes: why", "cores_busy": 1.25, "workers": [0, 2]}
    report["main_job"] = {
        "first_run": run(400.0, 80.0, {}),
        "new_submission": run(160.0, 40.0, plan),
        "one_process": run(200.0, 30.0, {}),
    }
    text = speed_report.markdown(report)
    cold = "| first run on this machine (cold cache) | 90 | 400 | 100 | 30 (30%) | 80 | 30 |"
    assert f"{cold} 4.00 | 3.08 |" in text
    assert (
        "| digits_logreg | 4.0 | 1.0 (25%) | 8.0 / 4.0 | 3 processes: why | workers 0, 2 |" in text
    )
    assert (
        "the same, in one process (`--workers 1`) | 90 | 200 | 100 | 30 (30%) | 30 | 30 |" in text
    )
    assert "| 90 | 160 | 100 | 30 (30%) | 40 | – | 1.60 |" in text  # workers: no rest
    assert "160 s against 200 s (1.25x faster)" in text and "the wall is 1.60x" in text
    assert "summed training time at most 1.3: 1.60, **missed**" in text
    assert "programs is 40% (a fixed" in text and "and evaluation 30% (its" in text
    assert "At most 300 s on this cpu: 160 s, **met**" in text


def test_an_unwritable_output_is_refused_before_measuring(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    command = [sys.executable, "scripts/benchmark_speed.py", f"--output={blocker}/sub/speed.md"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "cannot be written" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
