"""Several devices, simulated on the CPU (8 host devices in a subprocess):
data-parallel and trial-parallel training give one device's results; so do two
processes joined by jax.distributed, and a sweep spread by Ray."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from algoperf_lite.tuning import sweeps

# Subprocesses with eight simulated devices, jax.distributed and ray: the slow tier.
pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EIGHT = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}

SCRIPT = """
import json, tempfile
import jax
from algoperf_lite import load_submission, run_trial
from algoperf_lite.train import loop, planning, program
from algoperf_lite.tuning import study as tuning
from workloads import WORKLOADS

nadamw = load_submission("nadamw")
out = {"devices": jax.device_count()}
losses = lambda r: [row["train/loss"] for row in r.rows]
for name, steps in (("mnist1d_mlp", 200), ("digits_cnn", 60)):
    w = WORKLOADS[name]
    hp = {"dropout_rate": 0.1}
    one = run_trial(w, nadamw, hp, seed=3, max_steps=steps, stop_at_target=False)
    mesh = program.data_mesh()
    many = run_trial(w, nadamw, hp, seed=3, max_steps=steps, stop_at_target=False, mesh=mesh)
    out[f"data/{name}"] = [losses(one), losses(many), mesh.size]

w = WORKLOADS["digits_logreg"]
points = [{"learning_rate": 1e-3 * (i + 1)} for i in range(5)]
seeds = list(range(5))
one = loop.run_trials(w, nadamw, points, seeds, max_steps=100)
spread = loop.run_trials(
    w, nadamw, points, seeds, max_steps=100, mesh=program.trial_mesh()
)
out["trials"] = [[losses(r) for r in one], [losses(r) for r in spread]]
out["trials/steps"] = [[r.steps for r in one], [r.steps for r in spread]]

space = {"learning_rate": {"min": 1e-3, "max": 3e-2, "scaling": "log"}}
k, mesh = planning.plan(w, nadamw, 3)
out["plan"] = [k, None if mesh is None else mesh.size]
with tempfile.TemporaryDirectory() as d:
    # Lanes asked for: the measured planner times them, and on eight CPU "devices"
    # sharing two cores keeps one trial at a time (faster here; not on a GPU).
    spread = tuning.tune(
        [w], nadamw, space, output=d, trials=3, studies=1, progress=False, trials_per_step=8
    )
out["tune"] = [[r.steps_to_target for r in spread], [r.trials_per_step for r in spread]]

import dataclasses
small = dataclasses.replace(w, step_hint=20, eval_every=5, validation_target=None)
pmapped = load_submission("tests/data/api_pmap.py")  # pmap era: a copy per device
jitted = load_submission("tests/data/api_train_state.py")  # the same SGD, jit era
out["pmap"] = [losses(run_trial(small, pmapped, seed=1)), losses(run_trial(small, jitted, seed=1))]
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def eight_devices():
    env = {**os.environ, **EIGHT}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def test_eight_simulated_devices(eight_devices):
    assert eight_devices["devices"] == 8


def test_a_pmap_era_api_file_over_eight_devices_equals_its_jit_twin(eight_devices):
    pmapped, jitted = eight_devices["pmap"]
    assert len(pmapped) == 4
    np.testing.assert_allclose(pmapped, jitted, rtol=1e-5)


# digits_cnn's tolerance: summation-order differences grow over its 60 steps of
# convolutions and batch norm; one CI machine reached 1.24% at one evaluation
# of eight (the others within 0.7%), so 3% leaves room across CPUs.
@pytest.mark.parametrize("name, rtol", [("mnist1d_mlp", 1e-4), ("digits_cnn", 3e-2)])
def test_data_parallel_equals_one_device(eight_devices, name, rtol):
    one, many, size = eight_devices[f"data/{name}"]
    assert size == 8 and len(one) == len(many) >= 2
    # Dropout masks come from a partitionable RNG and batch norm sees the whole
    # batch, so only summation order differs.
    np.testing.assert_allclose(many, one, rtol=rtol)


def test_trial_parallel_equals_one_device(eight_devices):
    one, spread = eight_devices["trials"]
    assert len(one) == len(spread) == 5  # five trials padded to eight lanes, three dropped
    np.testing.assert_allclose(spread, one, rtol=1e-4)
    assert eight_devices["trials/steps"][0] == eight_devices["trials/steps"][1]


def test_studies_spread_over_every_device(eight_devices):
    assert eight_devices["plan"] == [8, 8]  # three trials, one lane per device
    steps_to_target, shared = eight_devices["tune"]
    assert shared == [8, 8, 8] and len(steps_to_target) == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_with_jax_distributed_train_like_one(eight_devices, tmp_path):
    """scripts/multihost_trial.py: 2 processes x 4 devices = one process's 8 devices."""
    port = _free_port()
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    common = ["--coordinator", f"localhost:{port}", "--num-processes", "2"]
    trial = ["--workload", "mnist1d_mlp", "--submission", "nadamw", "--seed", "3"]
    trial += ["--hparams", '{"dropout_rate": 0.1}', "--max-steps", "200"]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "scripts/multihost_trial.py",
                *common,
                "--process-id",
                str(i),
                *trial,
                "--output",
                str(tmp_path),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][1][-2000:]
    losses = [
        json.loads(next(x for x in out.splitlines() if x.startswith("train/loss "))[11:])
        for out, _ in outputs
    ]
    assert "2 processes, 8 devices" in outputs[0][0]
    one_process = eight_devices["data/mnist1d_mlp"][1]
    np.testing.assert_allclose(losses[0], one_process, rtol=1e-4)
    assert losses[0] == losses[1]  # every process holds the same replicated result
    assert os.path.exists(os.path.join(str(tmp_path), "study_0", "mnist1d_mlp_jax", "trial_1"))


def test_ray_spreads_a_sweep_like_run_sweep(tmp_path):
    pytest.importorskip("ray")  # the optional 'ray' extra (installed for the tests)
    from algoperf_lite import load_submission, run_trial
    from algoperf_lite.tuning import search_space
    from workloads import WORKLOADS

    out = str(tmp_path / "sweep.jsonl")
    command = [sys.executable, "scripts/ray_sweep.py", "--workload", "digits_logreg"]
    command += ["--submission", "nadamw", "--points", "2", "--max-steps", "40", "--output", out]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    records = sorted(sweeps.read_records(out), key=lambda r: r["point"])
    space = search_space.load(os.path.join(ROOT, "submissions", "search_spaces", "nadamw.json"))
    points = search_space.points(space, 2, seed=0)
    assert [r["point"] for r in records] == [0, 1]
    nadamw, w = load_submission("nadamw"), WORKLOADS["digits_logreg"]
    for r, p in zip(records, points, strict=True):
        local = run_trial(w, nadamw, p, seed=0, max_steps=40, stop_at_target=False)
        assert r["hparams"] == local.hparams
        np.testing.assert_allclose(
            [c["train/loss"] for c in r["curve"]], [row["train/loss"] for row in local.rows]
        )
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and len(sweeps.read_records(out)) == 2  # resumed: nothing rerun
