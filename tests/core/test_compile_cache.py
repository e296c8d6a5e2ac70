"""JAX's on-disk compilation cache: a second process loads what the first compiled."""

import json
import os
import subprocess
import sys

TRIAL = (
    "import json, sys; from algoperf_lite.core import compiles; "
    "compiles.use_persistent_cache(sys.argv[1]); "
    "from algoperf_lite import load_submission, run_trial; from workloads import get_workload; "
    "r = run_trial(get_workload('mnist1d_cnn'), load_submission(sys.argv[2]), seed=0, "
    "max_steps=25); "
    "print(json.dumps([r.compile_time_sec, r.rows[-1]['validation/loss']]))"
)


def trial(cache, submission="nadamw"):
    env = {**os.environ, "ALGOPERF_LITE_COMPILE_CACHE": ""}
    done = subprocess.run(
        [sys.executable, "-c", TRIAL, cache, submission], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def programs(cache, name):
    return {f for f in os.listdir(cache) if f.startswith(f"jit_{name}-")}


def test_a_second_process_compiles_from_the_cache(tmp_path):
    cache = str(tmp_path / "cache")
    cold, cold_loss = trial(cache)
    assert os.listdir(cache)  # the programs were written
    warm, warm_loss = trial(cache)
    assert warm_loss == cold_loss  # the same programs, so the same numbers
    assert warm < cold / 2  # on the 2-core CPU: 2.3 s against 12.9 s (50 steps)


def test_a_new_submission_finds_the_workloads_programs_in_the_cache(tmp_path):
    """A trial's start and its evaluation depend on the workload alone: another
    submission's process loads them instead of compiling its own."""
    cache = str(tmp_path / "cache")
    trial(cache, "nadamw")
    shared = {name: programs(cache, name) for name in ("start", "evaluate", "steps", "step")}
    assert shared["start"] and shared["evaluate"]
    trial(cache, "adamw")
    assert programs(cache, "start") == shared["start"]
    assert programs(cache, "evaluate") == shared["evaluate"]
    # ... while its training step is its own.
    assert programs(cache, "step") | programs(cache, "steps") > shared["step"] | shared["steps"]


def test_the_compile_cache_folder_can_be_named_or_turned_off(tmp_path, monkeypatch):
    import jax

    from algoperf_lite.core import compiles

    before = jax.config.jax_compilation_cache_dir
    try:
        monkeypatch.setenv(compiles.COMPILE_CACHE_ENV, str(tmp_path / "named"))
        assert compiles.use_persistent_cache() == str(tmp_path / "named")
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "named")
        monkeypatch.setenv(compiles.COMPILE_CACHE_ENV, "off")
        assert compiles.use_persistent_cache() is None
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
