"""Many trials per compiled step, and fused step loops: each trial ends exactly
as it would alone, and a study compiles its training step once."""

import dataclasses
import os

import jax
import numpy as np
import pytest

from algoperf_lite import load_submission, run_trial
from algoperf_lite.core import compiles, cpu, io
from algoperf_lite.train import checkpoints, loop, planning
from algoperf_lite.train import step as steps
from algoperf_lite.tuning import study as tuning
from algoperf_lite.tuning import sweeps
from workloads import WORKLOADS

POINTS = [
    {"learning_rate": 2e-3, "dropout_rate": 0.1},
    {"learning_rate": 1e-2},
    {"learning_rate": 5e-3, "label_smoothing": 0.1},
]
SEEDS = [0, 7, 3]
STEPS = 300


def fresh(name: str, **changes):
    """A copy of a workload that no other test has compiled (programs are cached per workload)."""
    w = WORKLOADS[name]
    return dataclasses.replace(w, description=f"{w.description} ({os.urandom(4).hex()})", **changes)


def curve(result, column="train/loss"):
    return np.array([row[column] for row in result.rows])


@pytest.mark.parametrize("name", ["mnist1d_mlp", "digits_cnn"])
def test_lanes_start_exactly_as_their_trials_alone(name, nadamw):
    from algoperf_lite.train.group import Group

    workload = fresh(name)
    hps = [nadamw.resolve_hparams(p) for p in POINTS]
    lanes = Group.build(workload, nadamw, hps, SEEDS, True, None, None, len(hps))
    for i, (hp, seed) in enumerate(zip(hps, SEEDS, strict=True)):
        alone = Group.build(workload, nadamw, [hp], [seed], False, None, None, 1)
        lane = jax.tree.leaves(lanes.lane_state(lanes.state, i))
        assert len(lane) == len(jax.tree.leaves(alone.state))
        for a, b in zip(lane, jax.tree.leaves(alone.state), strict=True):
            np.testing.assert_array_equal(a, b)


def test_submissions_share_the_workloads_programs(nadamw):
    """A trial's start and evaluation compile once per workload, not per submission."""
    workload = fresh("mnist1d_mlp")
    adamw = load_submission("adamw")
    with compiles.counting() as first:
        run_trial(workload, nadamw, max_steps=10)
    with compiles.counting() as second:
        run_trial(workload, adamw, max_steps=10)
    names = lambda counts: {name.split("(")[-1].rstrip(")") for name in counts}
    assert {"start", "evaluate", "with_optimizer"} <= names(first)
    assert "with_optimizer" in names(second)
    assert not {"start", "evaluate"} & names(second)


@pytest.mark.parametrize("name", ["digits_logreg", "mnist1d_mlp"])
def test_vmapped_trials_equal_separate_trials(name, nadamw):
    base = WORKLOADS[name]
    probe = [
        run_trial(base, nadamw, p, seed=s, max_steps=STEPS, stop_at_target=False)
        for p, s in zip(POINTS, SEEDS, strict=True)
    ]
    # A target the best trial reaches at the first evaluation: trials stop at different steps.
    first = [r.rows[0][base.metric_column] for r in probe]
    best = sorted(first, reverse=base.higher_is_better)
    workload = dataclasses.replace(base, validation_target=float(np.mean(best[:2])))
    alone = [
        run_trial(workload, nadamw, p, seed=s, max_steps=STEPS)
        for p, s in zip(POINTS, SEEDS, strict=True)
    ]
    together = loop.run_trials(workload, nadamw, POINTS, SEEDS, max_steps=STEPS)
    for a, b in zip(alone, together, strict=True):
        assert (b.status, b.steps, b.steps_to_target) == (a.status, a.steps, a.steps_to_target)
        assert (b.hparams, b.seed, b.trials_per_step) == (a.hparams, a.seed, 3)
        # Batched matmuls round differently; the drift stays far below what a
        # different seed or learning rate makes.
        np.testing.assert_allclose(curve(b), curve(a), rtol=5e-3)
        np.testing.assert_allclose(
            curve(b, workload.metric_column), curve(a, workload.metric_column), atol=5e-3
        )
    assert min(r.steps for r in together) < STEPS


def test_a_diverging_trial_stops_alone_at_the_same_step(nadamw):
    w = WORKLOADS["digits_logreg"]
    points = [{"learning_rate": 1e4, "warmup_factor": 0.0}, {"learning_rate": 1e-2}]
    alone = [run_trial(w, nadamw, p, seed=1, max_steps=200) for p in points]
    together = loop.run_trials(w, nadamw, points, [1, 1], max_steps=200)
    assert [r.status for r in together] == [r.status for r in alone]
    assert together[0].status == "diverged" and together[1].status != "diverged"
    assert [r.steps for r in together] == [r.steps for r in alone]


@pytest.mark.parametrize("name", ["digits_logreg", "digits_cnn"])
def test_fused_steps_equal_one_dispatch_per_step(name, nadamw):
    w = WORKLOADS[name]
    fused = run_trial(w, nadamw, seed=2, max_steps=60, fuse=True, stop_at_target=False)
    single = run_trial(w, nadamw, seed=2, max_steps=60, fuse=False, stop_at_target=False)
    assert fused.steps == single.steps == 60
    np.testing.assert_allclose(curve(fused), curve(single), rtol=1e-2)


def test_fusing_is_chosen_by_the_step_on_cpu(nadamw):
    from algoperf_lite.train.program import compiled_program

    names = tuple(sorted(nadamw.hparams))
    cnn, _ = compiled_program(WORKLOADS["digits_cnn"], nadamw, names, 64)
    mlp, _ = compiled_program(WORKLOADS["digits_logreg"], nadamw, names, 64)
    assert cnn.steps is None and mlp.steps is not None  # convolutions run unfused on a CPU


def test_a_vmapped_study_compiles_once_and_matches_one_at_a_time(tmp_path, nadamw):
    w = fresh("digits_logreg", step_hint=200, eval_every=50)
    space = {"learning_rate": {"min": 1e-3, "max": 3e-2, "scaling": "log"}}
    with compiles.counting() as counts:
        grouped = tuning.tune(
            [w], nadamw, space, output=str(tmp_path / "k2"), trials=5, studies=1,
            progress=False, trials_per_step=2,
        )  # fmt: skip
    assert compiles.training_steps(counts) == 1  # groups of 2, 2 and 1 (padded to 2)
    single = tuning.tune(
        [w], nadamw, space, output=str(tmp_path / "k1"), trials=5, studies=1,
        progress=False, trials_per_step=1,
    )  # fmt: skip
    for a, b in zip(single, grouped, strict=True):
        assert (a.hparams, a.status, a.steps_to_target) == (b.hparams, b.status, b.steps_to_target)
        np.testing.assert_allclose(curve(b), curve(a), rtol=1e-3)
    stored = io.read_json(os.path.join(str(tmp_path / "k2"), "study_0", f"{w.name}_jax",
                                       "trial_5", io.RESULT_FILE))  # fmt: skip
    assert stored["trials_per_step"] == 2
    again = tuning.tune(
        [w], nadamw, space, output=str(tmp_path / "k2"), trials=5, studies=1,
        progress=False, trials_per_step=2,
    )  # fmt: skip
    assert all(r.skipped for r in again)


def test_one_at_a_time_study_compiles_its_step_once(tmp_path, nadamw):
    w = fresh("mnist1d_mlp", step_hint=100)
    space = {"learning_rate": {"min": 1e-3, "max": 3e-2, "scaling": "log"}}
    with compiles.counting() as counts:
        tuning.tune([w], nadamw, space, output=str(tmp_path), trials=5, studies=1, progress=False)
    assert compiles.training_steps(counts) == 1


def test_vmapped_sweep_records_match(tmp_path, nadamw):
    w = fresh("digits_logreg", step_hint=150, eval_every=50)
    one = sweeps.run_sweep([w], nadamw, POINTS, str(tmp_path / "a.jsonl"), progress=False)
    three = sweeps.run_sweep(
        [w], nadamw, POINTS, str(tmp_path / "b.jsonl"), progress=False, trials_per_step=3
    )
    for a, b in zip(one, three, strict=True):
        assert (a["point"], a["hparams"]) == (b["point"], b["hparams"])
        np.testing.assert_allclose(
            [c["train/loss"] for c in b["curve"]], [c["train/loss"] for c in a["curve"]], rtol=1e-4
        )


def test_unmeasured_plan_runs_one_trial_at_a_time_on_one_cpu(nadamw):
    w = WORKLOADS["digits_logreg"]
    assert planning.plan(w, nadamw, 10) == (1, None)
    assert planning.plan(w, nadamw, 10, requested=4) == (4, None)


def test_eval_params_are_what_evaluation_sees_alone_and_vmapped(tmp_path):
    # A submission judged at the origin: every evaluation is that of zero weights,
    # whatever training did, alone or vmapped; without the hook training shows.
    from algoperf_lite import load_submission

    path = tmp_path / "judged_at_zero.py"
    path.write_text(
        "import jax, jax.numpy as jnp, optax\n"
        "HPARAMS = {'learning_rate': 0.01}\n"
        "def make_optimizer(hparams, step_hint):\n"
        "    return optax.sgd(hparams['learning_rate'])\n"
        "def eval_params(opt_state, params):\n"
        "    return jax.tree.map(jnp.zeros_like, params)\n"
    )
    judged = load_submission(str(path))
    plain = load_submission("plain_sgd")
    w = fresh("digits_logreg")
    zero = run_trial(w, judged, {"learning_rate": 1e-30}, seed=0, max_steps=100)
    trained = run_trial(w, judged, {"learning_rate": 0.5}, seed=0, max_steps=100)
    column = w.metric_column
    assert curve(trained, column) == pytest.approx(curve(zero, column))  # always the origin
    moved = run_trial(w, plain, {"learning_rate": 0.5}, seed=0, max_steps=100)
    assert curve(moved, column)[-1] != pytest.approx(curve(zero, column)[-1])
    lanes = loop.run_trials(
        w, judged, [{"learning_rate": 0.5}, {"learning_rate": 0.1}], [0, 1], max_steps=100
    )
    for lane in lanes:
        assert curve(lane, column) == pytest.approx(curve(zero, column))


# One loop for every K: budgets, statuses and checkpoints of vmapped trials,
# beside the single trial's in test_loop.py and test_checkpoints.py.
LOGREG_POINTS = [{"learning_rate": lr} for lr in (1e-3, 3e-3, 1e-2)]


def test_vmapped_trials_honour_the_time_budget(nadamw):
    w = fresh("digits_logreg")
    results = loop.run_trials(
        w, nadamw, LOGREG_POINTS, [0, 1, 2], max_steps=10**6, max_seconds=0.5, stop_at_target=False
    )
    assert {r.stopped_by for r in results} == {"time_budget"}
    assert {r.status for r in results} == {"missed"}
    assert len({r.steps for r in results}) == 1 and 0 < results[0].steps < 10**6
    assert all(r.submission_time_sec > 0.5 and r.trials_per_step == 3 for r in results)


def test_vmapped_trials_record_out_of_memory(tmp_path, monkeypatch, nadamw):
    """Fault injection: the device runs out of memory mid-group."""
    calls = []
    real_advance = steps.advance

    def advance(*args):
        calls.append(1)
        if len(calls) > 3:
            raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 1GiB")
        return real_advance(*args)

    monkeypatch.setattr(steps, "advance", advance)
    folders = [str(tmp_path / f"trial_{i}") for i in range(3)]
    w = WORKLOADS["digits_logreg"]
    results = loop.run_trials(w, nadamw, LOGREG_POINTS, [0, 1, 2], output_dirs=folders)
    assert [r.status for r in results] == ["out_of_memory"] * 3
    for folder in folders:
        assert io.read_json(os.path.join(folder, io.RESULT_FILE))["status"] == "out_of_memory"


def test_vmapped_trials_resume_from_checkpoints_with_the_same_numbers(tmp_path, monkeypatch):
    """Killed after a checkpoint, a group resumes from its lanes' checkpoints and
    ends as an uninterrupted group does."""
    sgd = load_submission("sgd")
    w = WORKLOADS["digits_logreg"]
    points = [{"learning_rate": lr} for lr in (0.01, 0.1, 1.0)]
    args = dict(max_steps=300, checkpoint_every=100, stop_at_target=False)
    clean = loop.run_trials(
        w,
        sgd,
        points,
        [0, 1, 2],
        output_dirs=[str(tmp_path / f"clean_{i}") for i in range(3)],
        **args,
    )
    real_advance = steps.advance

    def killed_past_150(program, state, hparams, x, y, step, stop):
        if stop > 150:
            raise KeyboardInterrupt  # as if killed
        return real_advance(program, state, hparams, x, y, step, stop)

    folders = [str(tmp_path / f"killed_{i}") for i in range(3)]
    monkeypatch.setattr(steps, "advance", killed_past_150)
    with pytest.raises(KeyboardInterrupt):
        loop.run_trials(w, sgd, points, [0, 1, 2], output_dirs=folders, **args)
    assert all(checkpoints.exists(f) and not io.is_finished(f) for f in folders)
    monkeypatch.setattr(steps, "advance", real_advance)
    resumed = loop.run_trials(w, sgd, points, [0, 1, 2], output_dirs=folders, **args)
    for a, b in zip(resumed, clean, strict=True):
        assert a.preemption_count == 1 and b.preemption_count == 0
        assert (a.status, a.steps, a.final) == (b.status, b.steps, b.final)
        np.testing.assert_array_equal(curve(a), curve(b))


def _first(busy: float, seconds: float = 1.0):
    """A study's first trial as the planner sees it: 3000 steps in ``seconds``, ``busy`` cores."""
    import types

    return types.SimpleNamespace(
        steps=3000,
        submission_time_sec=seconds,
        eval_time_sec=0.0,
        cores_busy=busy,
        plan=None,
        hparams=load_submission("nadamw").resolve_hparams({"learning_rate": 1e-3}),
    )


def test_measured_plan_takes_a_worker_per_core_where_the_trials_left_outlast_its_start(
    monkeypatch, nadamw
):
    w = fresh("digits_logreg", step_hint=300_000)
    points, seeds = [{"learning_rate": 1e-3 * (i + 1)} for i in range(8)], list(range(8))
    run_trial(w, nadamw, points[0], seed=0, max_steps=10)  # compiles the single program
    monkeypatch.setattr(planning, "LANES_PAYBACK", 1e9)  # no lanes: processes or one
    monkeypatch.setattr(cpu, "cores", lambda: list(range(16)))
    monkeypatch.setattr(cpu, "_STARTED_ON_ONE_CORE", True)  # as a fresh command's process
    monkeypatch.setattr(planning, "_free_memory", lambda: 100 * planning.WORKER_BYTES)
    # 8 trials here and 30 in later studies, 1 s each: one worker per core.
    many = planning.measured_plan(w, nadamw, points, seeds, _first(busy=1.5), later_trials=30)
    assert (many.trials_per_step, many.workers) == (1, 16) and "processes" in many.why
    assert many.measured["tune_seconds_alone"] == pytest.approx(38.0)
    few = planning.measured_plan(w, nadamw, points, seeds, _first(busy=1.5))
    assert few.workers == 8  # no more workers than trials left
    fast = planning.measured_plan(w, nadamw, points, seeds, _first(busy=1.5, seconds=0.1))
    assert fast.workers == 1  # 0.8 s of trials left: a worker would not pay its start
    monkeypatch.setattr(planning, "_free_memory", lambda: 3 * planning.WORKER_BYTES)
    assert planning.measured_plan(w, nadamw, points, seeds, _first(busy=1.5)).workers == 3
    monkeypatch.setattr(cpu, "cores", lambda: [0])
    assert planning.measured_plan(w, nadamw, points, seeds, _first(busy=1.0)).workers == 1
    monkeypatch.setattr(cpu, "cores", lambda: list(range(16)))
    # A process that started JAX on every core computes otherwise than a worker.
    monkeypatch.setattr(cpu, "_STARTED_ON_ONE_CORE", False)
    assert planning.measured_plan(w, nadamw, points, seeds, _first(busy=1.5)).workers == 1


def test_measured_plan_times_lanes_and_keeps_them_only_if_faster(monkeypatch, nadamw):
    w = fresh("digits_logreg", step_hint=3000)
    points, seeds = [{"learning_rate": 1e-3 * (i + 1)} for i in range(4)], list(range(4))
    run_trial(w, nadamw, points[0], seed=0, max_steps=10)
    monkeypatch.setattr(planning, "LANES_PAYBACK", 0.0)
    monkeypatch.setattr(planning, "cores", lambda: 2)  # no idle core: no processes
    chosen = planning.measured_plan(w, nadamw, points, seeds, _first(busy=1.9))
    gain = chosen.measured["lanes_gain"]
    assert chosen.measured["lanes"] == 4 and gain > 0
    expected = 4 if gain >= planning.MIN_GAIN else 1
    assert chosen.trials_per_step == expected and chosen.workers == 1


def test_a_study_records_its_measured_plan(tmp_path, nadamw):
    w = fresh("digits_logreg", step_hint=100, eval_every=50)
    space = {"learning_rate": {"min": 1e-3, "max": 3e-2, "scaling": "log"}}
    results = tuning.tune([w], nadamw, space, output=str(tmp_path), trials=3, studies=1,
                          progress=False)  # fmt: skip
    assert "first trial" in results[0].plan["why"] and results[0].plan["measured"] == {}
    later = results[1].plan
    assert later["measured"]["cores_busy"] == pytest.approx(results[0].cores_busy, rel=1e-3)
    assert later["trials_per_step"] == results[1].trials_per_step
    stored = io.read_json(os.path.join(str(tmp_path), "study_0", f"{w.name}_jax", "trial_3",
                                       io.RESULT_FILE))  # fmt: skip
    assert stored["plan"] == later and stored["cores_busy"] > 0


def test_requested_workers_that_cannot_rebuild_the_study_leave_one_process(tmp_path, nadamw):
    w = fresh("digits_logreg", step_hint=60, eval_every=30)  # not registered: no helper
    space = {"learning_rate": {"min": 1e-3, "max": 3e-2, "scaling": "log"}}
    results = tuning.tune([w], nadamw, space, output=str(tmp_path), trials=2, studies=1,
                          progress=False, workers=2)  # fmt: skip
    assert [r.plan["workers"] for r in results] == [1, 1]
    assert all("no worker process" in r.plan["why"] for r in results)
