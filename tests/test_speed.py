"""The speed benchmark's script runs end to end and reports every goal."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmark_script_writes_the_report(tmp_path):
    out = str(tmp_path / "speed.md")
    command = [sys.executable, "scripts/benchmark_speed.py", "--workload", "digits_logreg"]
    command += ["--steps", "40", "--vmap-steps", "20", "--sizes", "1,2", "--output", out]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    text = open(out).read()
    raw = json.load(open(str(tmp_path / "speed.json")))
    row = raw["workloads"]["digits_logreg"]
    assert all(v > 0 for v in row["rates"].values())
    assert row["study_compilations"]["training_steps"] == 1
    assert set(row["vmap"]) == {"1", "2"} and row["vmap"]["2"]["bytes"] > row["vmap"]["1"]["bytes"]
    ratio = row["rates"]["hand_written"] / row["rates"]["runner"]
    assert f"| digits_logreg | {row['rates']['runner']:.0f} |" in text and f"{ratio:.2f}" in text
    for goal in ("hand-written loop on every workload", "AlgoPerf-style loop", "compilation"):
        assert goal in text
    assert raw["machine"]["jax"] in text
